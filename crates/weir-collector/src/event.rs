//! What a publisher sends: a payload plus how to deliver it.

/// How the router picks the collectors an [`Event`] goes to.
///
/// The default router ([`SimpleRouter`](crate::SimpleRouter)) reads it; a custom
/// [`Router`](crate::Router) may read it or ignore it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Every collector of the queue.
    #[default]
    Broadcast,
    /// The collectors with these keys. A key no collector has delivers nowhere.
    Key(Vec<String>),
    /// The collectors listening to any of these topics. A topic nobody listens
    /// to delivers nowhere.
    Topic(Vec<String>),
}

impl Delivery {
    /// Delivery to the collectors with the given keys.
    pub fn keys<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Key(keys.into_iter().map(Into::into).collect())
    }

    /// Delivery to the collectors listening to the given topics.
    pub fn topics<I, S>(topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Topic(topics.into_iter().map(Into::into).collect())
    }
}

/// A payload on its way to the collectors, with its delivery and an optional
/// priority.
///
/// Any payload converts into a broadcast event with the queue's default
/// priority, so `publisher.send(value)` works; build an `Event` to choose more.
///
/// ```
/// use weir_collector::{Delivery, Event};
///
/// let event = Event::new("reading").to_topics(["sensor-data"]).with_priority(0);
/// assert_eq!(event.delivery(), &Delivery::Topic(vec!["sensor-data".into()]));
/// assert_eq!(event.priority(), Some(0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<P> {
    payload: P,
    delivery: Delivery,
    priority: Option<i64>,
}

impl<P> Event<P> {
    /// A broadcast event with the queue's default priority.
    pub fn new(payload: P) -> Self {
        Self {
            payload,
            delivery: Delivery::Broadcast,
            priority: None,
        }
    }

    /// Sets the delivery.
    #[must_use]
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Delivers to the collectors with these keys.
    #[must_use]
    pub fn to_keys<I, S>(self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with_delivery(Delivery::keys(keys))
    }

    /// Delivers to the collectors listening to these topics.
    #[must_use]
    pub fn to_topics<I, S>(self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with_delivery(Delivery::topics(topics))
    }

    /// Sets the priority; a lower value is served first by a
    /// [`QueueType::Priority`](crate::QueueType::Priority) queue and ignored by
    /// the others.
    #[must_use]
    pub fn with_priority(mut self, priority: i64) -> Self {
        self.priority = Some(priority);
        self
    }

    /// The payload.
    pub fn payload(&self) -> &P {
        &self.payload
    }

    /// The delivery.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The priority, if one was set.
    pub fn priority(&self) -> Option<i64> {
        self.priority
    }

    /// Gives the payload back.
    pub fn into_payload(self) -> P {
        self.payload
    }
}

impl<P> From<P> for Event<P> {
    fn from(payload: P) -> Self {
        Self::new(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_payload_is_a_broadcast_without_priority() {
        let event: Event<u32> = 7.into();
        assert_eq!(event.delivery(), &Delivery::Broadcast);
        assert_eq!(event.priority(), None);
        assert_eq!(event.into_payload(), 7);
    }

    #[test]
    fn keys_and_topics_replace_the_delivery() {
        let event = Event::new(()).to_keys(["a", "b"]);
        assert_eq!(
            event.delivery(),
            &Delivery::Key(vec!["a".into(), "b".into()])
        );
        let event = event.to_topics(["t"]);
        assert_eq!(event.delivery(), &Delivery::Topic(vec!["t".into()]));
    }
}
