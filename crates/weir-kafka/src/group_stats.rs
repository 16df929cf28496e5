//! What librdkafka's statistics say about this member's group: whether a
//! join or rebalance is under way.
//!
//! A rebalance callback marks only some of a rebalance: with the
//! cooperative-sticky protocol a member rejoins without any callback and
//! keeps its partitions until the assignment is known. librdkafka's
//! statistics report its join state (`cgrp.join_state`) at every interval,
//! `steady` when no join is under way.

use serde::Deserialize;

/// The part of a statistics report read here.
#[derive(Debug, Deserialize)]
struct Report {
    cgrp: Option<GroupReport>,
}

#[derive(Debug, Deserialize)]
struct GroupReport {
    join_state: String,
}

/// Whether the report says a join or rebalance is under way; `None` if it
/// says nothing about the group (not a consumer's, or not JSON).
pub(crate) fn joining(statistics: &[u8]) -> Option<bool> {
    let report: Report = serde_json::from_slice(statistics).ok()?;
    Some(report.cgrp?.join_state != "steady")
}

#[cfg(test)]
mod tests {
    use super::joining;

    #[test]
    fn a_steady_member_is_not_joining() {
        let stats = br#"{"name":"c#1","brokers":{},"cgrp":{"state":"up","join_state":"steady","rebalance_cnt":2}}"#;
        assert_eq!(joining(stats), Some(false));
    }

    #[test]
    fn every_other_join_state_is_a_join_under_way() {
        for state in [
            "init",
            "wait-join",
            "wait-sync",
            "wait-assign-call",
            "wait-unassign-to-complete",
        ] {
            let stats = format!(r#"{{"cgrp":{{"state":"up","join_state":"{state}"}}}}"#);
            assert_eq!(joining(stats.as_bytes()), Some(true), "{state}");
        }
    }

    #[test]
    fn a_report_without_a_group_or_not_json_says_nothing() {
        assert_eq!(joining(br#"{"name":"p#1","brokers":{}}"#), None);
        assert_eq!(joining(b"not json"), None);
    }
}
