"""The browser tests' helpers: where Chromium is, how JupyterLab is isolated and configured."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("HYBRIDKIT_CHROMIUM", "/usr/bin/chromium"))
# The flags of reference/notebooks-and-runbooks.md §5: no sandbox (root), no GPU, and no
# traffic of its own (QUIC, background networking, component updates, sync).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it is, its token, its notebook folder and its log."""

    base: str
    token: str
    root: Path
    log: Path

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def api(self, method: str, path: str) -> Any:
        """Call the server's REST API with the token."""
        request = urllib.request.Request(
            self.url(f"api/{path}"),
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every kernel (no dialog to answer, unlike the Kernel menu)."""
        for kernel in self.api("GET", "kernels"):
            self.api("DELETE", f"kernels/{kernel['id']}")


def lab_env(stack: Any, home: Path) -> dict[str, str]:
    """The server's environment: the stack's settings (kernels inherit them), isolated dirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "JUPYTER"))}
    env.update(
        {
            "SUPABASE_URL": stack.url,
            "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
            "SUPABASE_ANON_KEY": stack.anon_key,
            "HYBRIDKIT_LOCAL_DIR": str(home / "no-local-stack"),  # never start another stack
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "IPYTHONDIR": str(home / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "TQDM_MININTERVAL": "0.5",
        }
    )
    if stack.db_url:
        env["SUPABASE_DB_URL"] = stack.db_url
    return env


def prepare_home(home: Path) -> None:
    """Config a fresh server needs: widgets' confirm hook in every kernel, no news toast."""
    profile = home / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    # The same line binder/postBuild writes: every kernel loads the widgets' runbook hooks.
    (profile / "ipython_kernel_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["hybridkit_widgets"]\n'
    )
    notify = home / "settings" / "@jupyterlab" / "apputils-extension"
    notify.mkdir(parents=True)
    (notify / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    for name in ("config", "runtime", "data", "workspaces", "no-local-stack"):
        (home / name).mkdir(parents=True, exist_ok=True)
