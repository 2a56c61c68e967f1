from app.db import Database

db = Database("sqlite://")  # test code: ASQ902 declares the application role only
