"""Events: the committed changes that subscriptions deliver (migrations/0031_events.sql)."""
