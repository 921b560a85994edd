"""The list of routers the app serves. Each domain adds its API and page routers here."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from gongshu.web.pages import shell

    found: list[APIRouter] = [shell.router]
    return found
