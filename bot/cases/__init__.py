"""Cases: the RESOLVED loop for one detractor, from alert to closed loop (rules, wording, actions)."""
