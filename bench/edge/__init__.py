"""Edge benchmark: our rendered edge against the seed's nginx.conf and the app directly (see __main__)."""
