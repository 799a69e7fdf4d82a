//! Paper or live: the one rule, used by the guards, the broker adapter and `pbal check`.
//!
//! Why one place: three slightly different rules (DU/DF, DU/DEMO, DU only) once made `pbal
//! check` call a `DF` paper account live while the cycle called it paper. An account is paper
//! only when its id says so (`DU…` individual, `DF…` advisor) **and** the gateway says so;
//! when the two disagree, it is treated as live (fail closed: live needs `allow_live`).

/// The gateway's own opinion: `/iserver/accounts`' `isPaper` when present, else the
/// `/portfolio/accounts` type `DEMO`. An explicit `isPaper: false` always wins.
pub fn gateway_says_paper(iserver_is_paper: Option<bool>, account_type: Option<&str>) -> bool {
    match iserver_is_paper {
        Some(flag) => flag,
        None => account_type.is_some_and(|t| t.eq_ignore_ascii_case("DEMO")),
    }
}

/// True only when the id and the gateway both say paper.
pub fn is_paper(account_id: &str, gateway_says_paper: bool) -> bool {
    (account_id.starts_with("DU") || account_id.starts_with("DF")) && gateway_says_paper
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_must_agree() {
        assert!(is_paper("DU123", true));
        assert!(is_paper("DF123", true));
        assert!(
            !is_paper("U123", true),
            "a live id is live whatever the flag"
        );
        assert!(!is_paper("DU123", false), "disagreement fails closed");
    }

    #[test]
    fn the_gateway_flag() {
        assert!(gateway_says_paper(Some(true), None));
        assert!(!gateway_says_paper(Some(false), Some("DEMO")));
        assert!(gateway_says_paper(None, Some("DEMO")));
        assert!(!gateway_says_paper(None, Some("INDIVIDUAL")));
        assert!(!gateway_says_paper(None, None));
    }
}
