"""Who is who: members, roles, teams and the team set-up changed in chat."""
