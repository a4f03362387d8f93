"""The tutorial's step 2 (docs/tutorial.rst): the model gains the library's columns."""

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String, Text, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_registration import UserMixin


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


# id and email now come from UserMixin, with the library's other columns.
class User(db.Model, UserMixin):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(80), nullable=False, default="")


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
