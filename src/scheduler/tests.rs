//! Pure schedule tests on literal instants (UTC in, UTC out; comments give New York time).
use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn settings(
    cron: &str,
    tz: &str,
    calendar: &str,
    catch_up: bool,
    period: &str,
) -> ScheduleSettings {
    ScheduleSettings {
        cron: cron.into(),
        timezone: tz.into(),
        calendar: calendar.into(),
        catch_up,
        login_wait_secs: 6 * 3600,
        preflight_before_secs: 24 * 3600,
        period: period.into(),
    }
}

/// The shipped default (`config/default.toml`'s `[schedule]`; `config`'s tests check that the
/// two agree).
fn default_schedule() -> Schedule {
    sched(
        "0 30 10 1-7 1,4,7,10 Mon-Fri",
        "America/New_York",
        "NYSE",
        true,
        "quarter",
    )
}

fn sched(cron: &str, tz: &str, calendar: &str, catch_up: bool, period: &str) -> Schedule {
    Schedule::from_settings(&settings(cron, tz, calendar, catch_up, period)).unwrap()
}

fn since(t: &str) -> ScheduleState {
    ScheduleState::from_events(&[PeriodEvent::TrackingStarted { at: utc(t) }])
}

fn key(s: &str) -> PeriodKey {
    PeriodKey::from(s)
}

fn run(period: &str, slot: &str, reason: RunReason) -> Decision {
    Decision::Run {
        period: key(period),
        slot: utc(slot),
        reason,
    }
}

fn wait(until: &str) -> Decision {
    Decision::Wait { until: utc(until) }
}

#[test]
fn default_cron_is_and_of_dom_and_dow() {
    let s = default_schedule();
    // Q3 2027: Thu 1 July 10:30 EDT.
    assert_eq!(
        s.cron_at_or_after(utc("2027-06-30T00:00:00Z")),
        Some(utc("2027-07-01T14:30:00Z"))
    );
    // After the first week of July the next slot is Fri 1 October — not Monday 12 July (OR
    // semantics would match every weekday of the month).
    assert_eq!(
        s.cron_at_or_after(utc("2027-07-08T00:00:00Z")),
        Some(utc("2027-10-01T14:30:00Z"))
    );
    // Saturday 2 and Sunday 3 October are skipped: Monday 4 October.
    assert_eq!(
        s.cron_at_or_after(utc("2027-10-01T14:30:01Z")),
        Some(utc("2027-10-04T14:30:00Z"))
    );
}

#[test]
fn first_slot_skips_new_year_holiday() {
    let s = default_schedule();
    let st = since("2026-12-01T00:00:00Z");
    // 31 Dec 2026: Q4's slot predates tracking; Q1 2027's 1 Jan (Fri) is a holiday → Mon 4 Jan
    // 10:30 EST.
    assert_eq!(
        s.due_at(utc("2026-12-31T12:00:00Z"), &st),
        wait("2027-01-04T15:30:00Z")
    );
    assert_eq!(
        s.due_at(utc("2027-01-01T15:30:00Z"), &st),
        wait("2027-01-04T15:30:00Z")
    );
    assert_eq!(
        s.due_at(utc("2027-01-04T15:30:00Z"), &st),
        run("2027-Q1", "2027-01-04T15:30:00Z", RunReason::Scheduled)
    );
    assert_eq!(
        s.due_at(utc("2027-01-04T15:34:59.5Z"), &st),
        run("2027-Q1", "2027-01-04T15:30:00Z", RunReason::Scheduled)
    );
    assert_eq!(
        s.due_at(utc("2027-01-04T15:36:00Z"), &st),
        run("2027-Q1", "2027-01-04T15:30:00Z", RunReason::CatchUp)
    );
}

#[test]
fn completed_period_never_runs_again_and_waits_for_next_quarter() {
    let s = default_schedule();
    let events = vec![
        PeriodEvent::TrackingStarted {
            at: utc("2026-12-01T00:00:00Z"),
        },
        PeriodEvent::AttemptStarted {
            period: key("2027-Q1"),
            at: utc("2027-01-04T15:30:00Z"),
        },
        PeriodEvent::Completed {
            period: key("2027-Q1"),
            at: utc("2027-01-04T15:41:00Z"),
            summary: "staged 3 orders".into(),
        },
    ];
    // A "restart": the state is rebuilt from the journal's events.
    let st = ScheduleState::from_events(&events);
    for now in [
        "2027-01-04T15:42:00Z",
        "2027-01-05T15:30:00Z", // the next cron slot of the same quarter
        "2027-03-31T19:00:00Z",
    ] {
        // Q2 2027: Thu 1 April 10:30 EDT.
        assert_eq!(
            s.due_at(utc(now), &st),
            wait("2027-04-01T14:30:00Z"),
            "{now}"
        );
    }
    // A late Missed event cannot reopen or rewrite a completed period.
    let mut st2 = st.clone();
    st2.apply(&PeriodEvent::Missed {
        period: key("2027-Q1"),
        at: utc("2027-01-05T00:00:00Z"),
        reason: "x".into(),
    });
    assert!(st2.missed.is_empty());
    assert_eq!(
        s.due_at(utc("2027-04-01T14:30:00Z"), &st),
        run("2027-Q2", "2027-04-01T14:30:00Z", RunReason::Scheduled)
    );
}

#[test]
fn missed_slot_is_caught_up_at_next_trading_window() {
    let s = default_schedule();
    let st = since("2026-12-01T00:00:00Z");
    // Asleep through Monday 4 Jan; wakes Tuesday 08:00 EST → waits for 09:35 EST.
    assert_eq!(
        s.due_at(utc("2027-01-05T13:00:00Z"), &st),
        wait("2027-01-05T14:35:00Z")
    );
    assert_eq!(
        s.due_at(utc("2027-01-05T14:35:00Z"), &st),
        run("2027-Q1", "2027-01-04T15:30:00Z", RunReason::CatchUp)
    );
    // Woke Monday 15:45 EST (inside the last 30 minutes) → Tuesday 09:35.
    assert_eq!(
        s.due_at(utc("2027-01-04T20:45:00Z"), &st),
        wait("2027-01-05T14:35:00Z")
    );
    // Woke on Saturday 9 Jan → Monday 11 Jan 09:35, still in Q1.
    assert_eq!(
        s.due_at(utc("2027-01-09T12:00:00Z"), &st),
        wait("2027-01-11T14:35:00Z")
    );
}

#[test]
fn catch_up_respects_early_close() {
    // Monthly, slot 10:00 on 2 Nov 2026; asleep until the day after Thanksgiving.
    let s = sched("0 0 10 2 * *", "America/New_York", "NYSE", true, "month");
    let st = since("2026-10-15T00:00:00Z");
    // Fri 27 Nov 2026 closes at 13:00: at 12:40 EST the window (until 12:30) is over.
    assert!(s.allowed_at(utc("2026-11-27T17:29:59Z")));
    assert!(!s.allowed_at(utc("2026-11-27T17:30:00Z")));
    assert_eq!(
        s.due_at(utc("2026-11-27T17:40:00Z"), &st),
        wait("2026-11-30T14:35:00Z")
    );
}

#[test]
fn catch_up_that_runs_out_of_period_is_missed() {
    let s = sched(
        "0 0 15 31 12 *",
        "America/New_York",
        "NYSE",
        true,
        "quarter",
    );
    let st = since("2026-10-01T00:00:00Z");
    // Thu 31 Dec 2026 15:00 EST is past 15:30? No: 15:00 is in the window → runs on time.
    assert_eq!(
        s.due_at(utc("2026-12-31T20:00:00Z"), &st),
        run("2026-Q4", "2026-12-31T20:00:00Z", RunReason::Scheduled)
    );
    // Woke at 15:45: nothing of Q4 is left.
    match s.due_at(utc("2026-12-31T20:45:00Z"), &st) {
        Decision::Missed { period, reason } => {
            assert_eq!(period, key("2026-Q4"));
            assert!(reason.contains("no trading time is left"), "{reason}");
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn previous_period_without_run_is_reported_once() {
    let s = default_schedule();
    let st = since("2026-12-01T00:00:00Z");
    // Daemon down all of Q1 2027 (slot 4 Jan), back on 2 April.
    match s.due_at(utc("2027-04-02T12:00:00Z"), &st) {
        Decision::Missed { period, .. } => assert_eq!(period, key("2027-Q1")),
        d => panic!("{d:?}"),
    }
    let mut st2 = st.clone();
    st2.apply(&PeriodEvent::Missed {
        period: key("2027-Q1"),
        at: utc("2027-04-02T12:00:00Z"),
        reason: "down".into(),
    });
    // Q2's slot (1 April) passed too → catch-up on Friday 2 April 09:35 EDT... 2 April 2027 is
    // not Good Friday (26 March) so the exchange is open.
    assert_eq!(
        s.due_at(utc("2027-04-02T12:00:00Z"), &st2),
        wait("2027-04-02T13:35:00Z")
    );
    // Installed mid-Q1 (after the slot): Q1 is not reported, and Q1 is not caught up.
    let late = since("2027-02-10T00:00:00Z");
    assert_eq!(
        s.due_at(utc("2027-02-10T16:00:00Z"), &late),
        wait("2027-04-01T14:30:00Z")
    );
}

#[test]
fn installed_between_two_slots_of_a_period_takes_the_next_one() {
    let s = default_schedule();
    // Installed Mon 4 Jan 2027 at noon EST, after that day's 10:30 slot: Tue 5 Jan 10:30.
    let st = since("2027-01-04T17:00:00Z");
    assert_eq!(
        s.due_at(utc("2027-01-04T17:00:00Z"), &st),
        wait("2027-01-05T15:30:00Z")
    );
}

#[test]
fn interrupted_attempt_resumes_failed_attempt_retries_then_gives_up() {
    let s = default_schedule();
    let mut st = since("2026-12-01T00:00:00Z");
    st.apply(&PeriodEvent::AttemptStarted {
        period: key("2027-Q1"),
        at: utc("2027-01-04T15:30:00Z"),
    });
    // The process died during the attempt: resume as soon as allowed.
    assert_eq!(
        s.due_at(utc("2027-01-04T15:50:00Z"), &st),
        run("2027-Q1", "2027-01-04T15:30:00Z", RunReason::Resume)
    );
    st.apply(&PeriodEvent::AttemptFailed {
        period: key("2027-Q1"),
        at: utc("2027-01-04T15:40:00Z"),
        reason: "gateway timeout".into(),
    });
    assert_eq!(
        s.due_at(utc("2027-01-04T15:50:00Z"), &st),
        wait("2027-01-04T15:55:00Z")
    );
    assert_eq!(
        s.due_at(utc("2027-01-04T15:55:00Z"), &st),
        run("2027-Q1", "2027-01-04T15:30:00Z", RunReason::Retry)
    );
    for at in ["2027-01-04T15:55:00Z", "2027-01-04T16:20:00Z"] {
        st.apply(&PeriodEvent::AttemptStarted {
            period: key("2027-Q1"),
            at: utc(at),
        });
    }
    assert_eq!(st.last_attempt.as_ref().unwrap().number, 3);
    match s.due_at(utc("2027-01-04T17:00:00Z"), &st) {
        Decision::Missed { period, reason } => {
            assert_eq!(period, key("2027-Q1"));
            assert!(reason.contains("3 attempts"), "{reason}");
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn without_catch_up_only_cron_slots_count() {
    let s = sched(
        "0 30 10 1-7 1,4,7,10 Mon-Fri",
        "America/New_York",
        "NYSE",
        false,
        "quarter",
    );
    let st = since("2026-12-01T00:00:00Z");
    // Slot Mon 4 Jan missed; at 12:00 EST wait for Tuesday's 10:30 slot, not the next window.
    assert_eq!(
        s.due_at(utc("2027-01-04T17:00:00Z"), &st),
        wait("2027-01-05T15:30:00Z")
    );
    assert_eq!(
        s.due_at(utc("2027-01-05T15:32:00Z"), &st),
        run("2027-Q1", "2027-01-05T15:30:00Z", RunReason::Scheduled)
    );
    // Past the last slot of the quarter (Thu 7 Jan 10:30 + grace): missed.
    match s.due_at(utc("2027-01-07T15:40:00Z"), &st) {
        Decision::Missed { period, reason } => {
            assert_eq!(period, key("2027-Q1"));
            assert!(reason.contains("catch_up is false"), "{reason}");
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn slot_outside_trading_hours_is_deferred_to_next_window() {
    // 03:00 is never in trading hours: the first 03:00 of the month defers to the first window.
    let s = sched("0 0 3 * * *", "America/New_York", "NYSE", true, "month");
    let st = since("2026-12-31T12:00:00Z");
    // Jan 2027: 1st (Fri) holiday, weekend → Mon 4 Jan 09:35 EST.
    assert_eq!(
        s.due_at(utc("2027-01-01T12:00:00Z"), &st),
        wait("2027-01-04T14:35:00Z")
    );
    assert_eq!(
        s.due_at(utc("2027-01-04T14:35:00Z"), &st),
        run("2027-01", "2027-01-01T08:00:00Z", RunReason::Scheduled)
    );
}

// ---- DST: the two US transition days of 2027 are Sun 14 March and Sun 7 November. ----

#[test]
fn slot_in_skipped_hour_fires_at_first_instant_after_gap() {
    let s = sched("0 30 2 * * *", "America/New_York", "none", true, "month");
    // 13 March 02:30 EST = 07:30Z; 14 March 02:30 does not exist → 03:00 EDT = 07:00Z;
    // 15 March 02:30 EDT = 06:30Z.
    assert_eq!(
        s.cron_at_or_after(utc("2027-03-13T00:00:00Z")),
        Some(utc("2027-03-13T07:30:00Z"))
    );
    assert_eq!(
        s.cron_at_or_after(utc("2027-03-13T07:30:01Z")),
        Some(utc("2027-03-14T07:00:00Z"))
    );
    assert_eq!(
        s.cron_at_or_after(utc("2027-03-14T07:00:01Z")),
        Some(utc("2027-03-15T06:30:00Z"))
    );
    // As a period slot: a monthly run on the 14th at 02:30 runs at 03:00 EDT.
    let s = sched("0 30 2 14 * *", "America/New_York", "none", true, "month");
    let st = since("2027-03-01T00:00:00Z");
    assert_eq!(
        s.due_at(utc("2027-03-10T00:00:00Z"), &st),
        wait("2027-03-14T07:00:00Z")
    );
    assert_eq!(
        s.next_run_at(utc("2027-03-10T00:00:00Z"), &st),
        Some(NextRun {
            period: key("2027-03"),
            at: utc("2027-03-14T07:00:00Z")
        })
    );
}

#[test]
fn slot_in_repeated_hour_fires_once_at_first_occurrence() {
    let s = sched("0 30 1 * * *", "America/New_York", "none", true, "month");
    // 7 Nov 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST): only the first counts.
    assert_eq!(
        s.cron_at_or_after(utc("2027-11-07T00:00:00Z")),
        Some(utc("2027-11-07T05:30:00Z"))
    );
    assert_eq!(
        s.cron_at_or_after(utc("2027-11-07T05:30:01Z")),
        Some(utc("2027-11-08T06:30:00Z"))
    );
    // Searching from inside the second pass (01:00 EST = 06:00Z) must not answer with the
    // first pass of 01:45 (05:45Z, in the past), nor fire the second pass: next day.
    let s45 = sched("0 45 1 * * *", "America/New_York", "none", true, "month");
    assert_eq!(
        s45.cron_at_or_after(utc("2027-11-07T06:00:00Z")),
        Some(utc("2027-11-08T06:45:00Z"))
    );
    // A slot after the repeated hour is still found from inside it.
    let s215 = sched("0 15 2 * * *", "America/New_York", "none", true, "month");
    assert_eq!(
        s215.cron_at_or_after(utc("2027-11-07T06:30:00Z")),
        Some(utc("2027-11-07T07:15:00Z"))
    );
    // And as a period slot, with "never twice in a period" on top.
    let s = sched("0 30 1 7 11 *", "America/New_York", "none", true, "month");
    let st = since("2027-11-01T00:00:00Z");
    assert_eq!(
        s.due_at(utc("2027-11-07T05:30:00Z"), &st),
        run("2027-11", "2027-11-07T05:30:00Z", RunReason::Scheduled)
    );
}

#[test]
fn market_hours_follow_new_york_dst_for_a_foreign_zone_cron() {
    // 15:00 London is 10:00 New York except in the weeks when only the US is on summer time
    // (14–27 March 2027), when it is 11:00. Both are inside the window; the slot's UTC
    // instant follows London, the window follows New York.
    let s = sched("0 0 15 * * Mon-Fri", "Europe/London", "NYSE", true, "month");
    let st = since("2027-03-01T00:00:00Z");
    assert_eq!(
        s.due_at(utc("2027-03-01T00:00:00Z"), &st),
        wait("2027-03-01T15:00:00Z")
    );
    // 9:00 London on the Monday after the US change (15 March) is 05:00 EDT: closed; the
    // New York window opens 09:35 EDT = 13:35Z.
    let s = sched("0 0 9 15 3 *", "Europe/London", "NYSE", true, "month");
    assert_eq!(
        s.due_at(utc("2027-03-15T09:30:00Z"), &st),
        wait("2027-03-15T13:35:00Z")
    );
}

#[test]
fn default_slots_on_both_sides_of_dst() {
    let s = default_schedule();
    // Tracking since mid-July 2026: Q3's 1 July slot predates it.
    let st = since("2026-07-15T00:00:00Z");
    // Q4 2026 (EDT until 1 Nov): Thu 1 Oct 10:30 EDT = 14:30Z; Q1 2027 (EST): 15:30Z.
    assert_eq!(
        s.next_run_at(utc("2026-09-15T00:00:00Z"), &st).unwrap().at,
        utc("2026-10-01T14:30:00Z")
    );
    let mut st2 = st.clone();
    st2.apply(&PeriodEvent::Completed {
        period: key("2026-Q4"),
        at: utc("2026-10-01T15:00:00Z"),
        summary: String::new(),
    });
    assert_eq!(
        s.next_run_at(utc("2026-10-01T15:00:00Z"), &st2),
        Some(NextRun {
            period: key("2027-Q1"),
            at: utc("2027-01-04T15:30:00Z")
        })
    );
}

#[test]
fn preflight_is_a_day_before_the_run() {
    let s = default_schedule();
    let st = since("2026-12-01T00:00:00Z");
    let pf = s.preflight_at(utc("2027-01-01T00:00:00Z"), &st).unwrap();
    assert_eq!(pf.period, key("2027-Q1"));
    assert_eq!(pf.run_at, utc("2027-01-04T15:30:00Z"));
    assert_eq!(pf.at, utc("2027-01-03T15:30:00Z"));
    // When the run is due now there is nothing to pre-check.
    assert_eq!(s.preflight_at(utc("2027-01-04T15:30:00Z"), &st), None);
}

#[test]
fn invalid_settings_name_their_key() {
    let bad = [
        (
            settings("30 10 * * *", "America/New_York", "NYSE", true, "quarter"),
            "schedule.cron",
        ),
        (
            settings("0 61 10 * * *", "America/New_York", "NYSE", true, "quarter"),
            "schedule.cron",
        ),
        (
            settings("0 0 10 * * *", "Mars/Olympus", "NYSE", true, "quarter"),
            "schedule.timezone",
        ),
        (
            settings("0 0 10 * * *", "America/New_York", "LSE", true, "quarter"),
            "schedule.calendar",
        ),
        (
            settings("0 0 10 * * *", "America/New_York", "NYSE", true, "week"),
            "schedule.period",
        ),
        // 30 February never exists.
        (
            settings("0 0 10 30 2 *", "America/New_York", "none", true, "quarter"),
            "schedule.cron",
        ),
    ];
    for (s, k) in bad {
        let e = Schedule::from_settings(&s).unwrap_err();
        assert_eq!(e.key(), k, "{e}");
        assert!(e.to_string().contains(k), "{e}");
    }
}

#[test]
fn state_folds_attempt_numbers_per_period() {
    let st = ScheduleState::from_events(&[
        PeriodEvent::AttemptStarted {
            period: key("2027-Q1"),
            at: utc("2027-01-04T15:30:00Z"),
        },
        PeriodEvent::AttemptStarted {
            period: key("2027-Q2"),
            at: utc("2027-04-01T14:30:00Z"),
        },
    ]);
    assert_eq!(st.last_attempt.as_ref().unwrap().number, 1);
    let json = serde_json::to_string(&PeriodEvent::Missed {
        period: key("2027-Q1"),
        at: utc("2027-01-04T15:30:00Z"),
        reason: "no login".into(),
    })
    .unwrap();
    assert!(json.contains(r#""event":"missed""#) && json.contains(r#""period":"2027-Q1""#));
}

#[test]
fn warnings_flag_a_cron_outside_trading_hours() {
    assert!(
        default_schedule()
            .warnings(utc("2027-02-01T00:00:00Z"))
            .is_empty()
    );
    let s = sched(
        "0 0 3 1-7 1,4,7,10 *",
        "America/New_York",
        "NYSE",
        true,
        "quarter",
    );
    let w = s.warnings(utc("2027-02-01T00:00:00Z"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("2027-Q2") && w[0].contains("2027-04-01 09:35:00 EDT"),
        "{w:?}"
    );
    assert_eq!(
        s.exchange_time(utc("2027-04-01T13:35:00Z")),
        "2027-04-01 09:35:00 EDT"
    );
    let none = sched("0 0 3 * * *", "America/New_York", "none", true, "quarter");
    assert!(none.warnings(utc("2027-02-01T00:00:00Z"))[0].contains("calendar"));
}
