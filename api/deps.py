"""Request dependencies as ``Annotated`` aliases. Routes never build infrastructure: the app
factory puts the settings, the store and the launcher on ``app.state`` once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.launcher import Launcher
from api.urls import API_V1, Urls
from sareeflow.settings import Settings
from sareeflow.store import Store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_launcher(request: Request) -> Launcher:
    return request.app.state.launcher


def get_urls(request: Request) -> Urls:
    """URLs under the mount point the app is served from (``root_path`` behind a proxy)."""
    return Urls(base=f"{request.scope.get('root_path', '').rstrip('/')}{API_V1}")


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
LauncherDep = Annotated[Launcher, Depends(get_launcher)]
UrlsDep = Annotated[Urls, Depends(get_urls)]
