import pytest

from services.common.errors import ApiError
from services.gateway.auth import Role, authenticate, require_admin
from services.gateway.config import Settings

KEYS = ("k1", "k2")


def test_client_and_admin_keys():
    assert authenticate("k1", KEYS, "adm") is Role.client
    assert authenticate("k2", KEYS, "adm") is Role.client
    assert authenticate("adm", KEYS, "adm") is Role.admin


@pytest.mark.parametrize("key", [None, "", "k3", "k1 ", "K1", "adm2", "k"])
def test_missing_or_wrong_key_is_401(key):
    with pytest.raises(ApiError) as info:
        authenticate(key, KEYS, "adm")
    assert (info.value.status, info.value.code, info.value.field) == (
        401,
        "unauthorized",
        "X-API-Key",
    )


def test_empty_admin_key_never_matches():
    with pytest.raises(ApiError):
        authenticate("", (), "")


def test_require_admin():
    require_admin(Role.admin)
    with pytest.raises(ApiError) as info:
        require_admin(Role.client)
    assert (info.value.status, info.value.code) == (403, "forbidden")


def test_keys_from_environment(monkeypatch):
    monkeypatch.setenv("RECSYS_API_KEYS", " a, b ,,c")
    monkeypatch.setenv("RECSYS_ADMIN_KEY", "root")
    monkeypatch.setenv("GATEWAY_CACHE_TTL_SECONDS", "0")
    s = Settings()
    assert s.client_keys == ("a", "b", "c")
    assert s.admin_key == "root"
    assert s.cache_ttl_seconds == 0
    assert "root" not in repr(s) and "a, b" not in repr(s)


def test_defaults(monkeypatch):
    for name in ("RECSYS_API_KEYS", "RECSYS_ADMIN_KEY", "PORT", "SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert (s.service_name, s.port) == ("gateway", 8000)
    assert s.client_keys == ("dev-key",) and s.admin_key == "dev-admin-key"
    assert Settings(api_keys="x,y").client_keys == ("x", "y")
