"""Shop API: users, products and orders."""
