"""Recognition: kudos, customer praise, loops closed well, and Customer Service Week."""
