#![doc = include_str!("../README.md")]
//!
//! ## What is here
//!
//! - [`conformance`]: the scenarios, one function each, that
//!   [`conformance_suite!`] turns into tests.
//! - [`interleave::check_interleavings`]: the property test; call it from a
//!   `#[test]`.
//! - [`servers`]: `redis-server` and tansu for tests, each on a free loopback
//!   port, found by [`servers::locate`], the lookup `cargo xtask` shares.
//! - Helpers the scenarios and the backends' own tests share: [`new_topic`],
//!   [`subscribed`], [`collect`], [`RunningMember`] and more.
//! - Fault tests' bookkeeping: [`Tally`] counts every message processed and
//!   gives the [`Verdict`] (lost, duplicated); [`produce_through_outages`]
//!   produces numbered messages, retrying what an outage refused.
//!
//! Scenarios create uniquely named topics and groups, so many may run
//! against one server at once.

pub mod capabilities;
pub mod conformance;
pub mod interleave;
mod member;
pub mod servers;
mod support;
mod tally;

pub use member::{RunningMember, wait_until};
pub use support::{
    Seen, WAIT, collect, delete_topic, new_topic, numbered, poll_quietly, produce_numbered,
    subscribed, subscribed_with, unique_name, until_assigned,
};
pub use tally::{Tally, Verdict, number, produce_spread_through_outages, produce_through_outages};

/// Expands the conformance suite into one test per scenario, each given a
/// broker by the async function `$factory`.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:path) => {
        $crate::conformance_suite!(@cases $factory,
            per_partition_order,
            lent_batches_match_what_poll_delivers,
            commit_then_resume_after_restart,
            uncommitted_messages_are_redelivered,
            group_members_split_partitions_and_take_over,
            pause_and_resume,
            seek_moves_the_position,
            headers_and_binary_payloads_round_trip,
            unknown_topic_is_a_clear_error,
            concurrent_producers_lose_nothing,
            same_key_same_partition,
            messages_carry_the_time_they_were_produced,
            separate_groups_each_see_everything,
            admin_creates_lists_and_deletes_topics,
            admin_reads_offsets_and_a_groups_commits,
            commit_of_unowned_partition_is_refused,
            assignment_comes_before_messages,
            seek_past_the_end_resets_and_skips_nothing,
            commit_past_the_end_is_refused,
            consumer_misuse_gets_one_error_each,
            producer_and_admin_misuse_gets_one_error_each,
        );
    };
    (@cases $factory:path, $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let broker = $factory().await;
                $crate::conformance::$name(&broker).await;
            }
        )+
    };
}
