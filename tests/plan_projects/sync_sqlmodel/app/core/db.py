from sqlmodel import create_engine

engine = create_engine("postgresql+psycopg://app:secret@db/app")
