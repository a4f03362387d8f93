"""The tutorial's step 1 (docs/tutorial.rst): the notes app you have, before registration."""

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String, Text, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class User(db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(80))


class Note(db.Model):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)


def create_app(test_config=None):
    app = Flask(__name__)
    app.config.from_mapping(
        # A relative SQLite path is in the instance folder: instance/notes.sqlite.
        SQLALCHEMY_DATABASE_URI="sqlite:///notes.sqlite",
    )
    if test_config:
        app.config.update(test_config)
    db.init_app(app)

    @app.get("/")
    def index():
        count = db.session.scalar(select(func.count()).select_from(User))
        return f"{count} users."

    with app.app_context():
        db.create_all()
    return app
