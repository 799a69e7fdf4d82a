//! Pacing: the global and per-endpoint request limits with the 429 penalty box, and the
//! request log tests read.
use super::*;

impl SimState {
    /// Applies the global and per-endpoint limits; `false` = answer 429.
    pub fn rate_check(&mut self, method: &str, path: &str, now: DateTime<Utc>) -> bool {
        let cfg = self.behaviour.rate_limits.clone();
        if !cfg.enabled {
            return true;
        }
        if let Some(until) = self.rate.penalty_until {
            if now < until {
                self.rate.rejected += 1;
                return false;
            }
            self.rate.penalty_until = None;
        }
        let mut ok = window_admit(
            &mut self.rate.hits,
            "*global*",
            cfg.global_per_sec,
            1000,
            now,
        );
        for l in cfg
            .endpoints
            .iter()
            .filter(|l| limit_matches(l, method, path))
        {
            let key = format!("{} {}", l.method.as_deref().unwrap_or("*"), l.path);
            ok &= window_admit(&mut self.rate.hits, &key, l.max, l.per_ms, now);
        }
        if !ok {
            self.rate.rejected += 1;
            if cfg.penalty_ms > 0 {
                self.rate.penalty_until =
                    Some(now + ChronoDuration::milliseconds(cfg.penalty_ms as i64));
            }
        }
        ok
    }

    pub fn log(&mut self, now: DateTime<Utc>, method: &str, path: &str, status: u16) {
        if self.requests.len() >= MAX_LOG {
            self.requests.pop_front();
        }
        self.requests.push_back(RequestRecord {
            at: now,
            method: method.to_string(),
            path: path.to_string(),
            status,
        });
    }
}

fn limit_matches(l: &EndpointLimit, method: &str, path: &str) -> bool {
    if let Some(m) = &l.method
        && !m.eq_ignore_ascii_case(method)
    {
        return false;
    }
    match l.path.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => l.path == path,
    }
}

/// Sliding window: admits (and records) the hit when fewer than `max` hits lie in the window.
fn window_admit(
    hits: &mut HashMap<String, VecDeque<DateTime<Utc>>>,
    key: &str,
    max: u32,
    per_ms: u64,
    now: DateTime<Utc>,
) -> bool {
    let q = hits.entry(key.to_string()).or_default();
    let window = ChronoDuration::milliseconds(per_ms as i64);
    while q.front().is_some_and(|t| now - *t >= window) {
        q.pop_front();
    }
    if q.len() as u32 >= max {
        return false;
    }
    q.push_back(now);
    true
}
