// Gateway home recommendations at a constant arrival rate.
// Local:   k6 run -e RATE=150 -e DURATION=60s tests/load/home.js
// Cluster: the chart's k6 Job runs this file with BASE_URL pointing at the gateway Service.
import http from 'k6/http';
import { check } from 'k6';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8000';
const API_KEY = __ENV.API_KEY || 'dev-key';
const RATE = parseInt(__ENV.RATE || '50', 10);
const DURATION = __ENV.DURATION || '60s';
const USERS = parseInt(__ENV.USERS || '5000', 10);
// A share of anonymous/unknown users exercises the cold-start path.
const COLD_SHARE = parseFloat(__ENV.COLD_SHARE || '0.1');

export const options = {
  discardResponseBodies: false,
  scenarios: {
    home: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: Math.max(20, RATE),
      maxVUs: Math.max(50, RATE * 4),
    },
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

function userId() {
  if (Math.random() < COLD_SHARE) {
    return `new-${Math.floor(Math.random() * 1e9)}`;
  }
  const n = 1 + Math.floor(Math.random() * USERS);
  return `u${String(n).padStart(6, '0')}`;
}

export default function () {
  const res = http.get(`${BASE_URL}/v1/recommendations/home?user_id=${userId()}&k=10`, {
    headers: { 'X-API-Key': API_KEY },
    tags: { name: 'home' },
  });
  check(res, {
    'status 200': (r) => r.status === 200,
    '10 items': (r) => r.status === 200 && r.json('items').length === 10,
    'not degraded': (r) => r.status === 200 && r.json('fallback_reason') === null,
  });
}

export function handleSummary(data) {
  const out = __ENV.SUMMARY_PATH;
  return out ? { [out]: JSON.stringify(data) } : {};
}
