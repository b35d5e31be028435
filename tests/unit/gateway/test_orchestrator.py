from services.common.http import DownstreamError
from services.gateway.orchestrator import failure_reason, uniform_body


def test_failure_reason_is_bounded():
    assert failure_reason(DownstreamError("candidate_gen", "timeout")) == "candidate_gen_timeout"
    assert failure_reason(DownstreamError("ranking", "unavailable")) == "ranking_unavailable"
    assert failure_reason(DownstreamError("ranking", "http_503")) == "ranking_unavailable"
    assert failure_reason(DownstreamError("ranking", "bad_response")) == "ranking_bad_response"


def test_uniform_body_passthrough_and_repair():
    body = {"error": {"code": "product_not_found", "message": "no such product", "field": "x"}}
    assert uniform_body(404, body) == body
    repaired = uniform_body(418, {"detail": "teapot"})
    assert set(repaired["error"]) == {"code", "message", "field"}
    assert uniform_body(404, {"error": {"code": "c", "message": "m"}})["error"]["field"] is None
