"""notify: stage notifications for ministry staff (subscriptions and deliveries)."""
