# SPDX-License-Identifier: GPL-3.0-or-later
"""The web portal: upload to print, my held jobs, release and cancel, status, admin views.

A Flask application built by `create_app(parts, settings)` from the station's parts
(`WebParts`, made from an App by `web_parts`) and its `[web]` settings, served by gunicorn
as `releasestation web` (releasestation.web.server). One blueprint per concern:

- `auth`: GET/POST /login, POST /logout; the session, its idle timeout, the login throttle;
- `jobs`: the My jobs page (/jobs), POST /upload, and its release and cancel forms;
- `status`: /status (public or login-only) and the admins' every held job (/admin);
- `admin`: the other admin pages (readers, the audit trail, reports, a user's cards and
  PIN) and their JSON under /api/v1/admin;
- `api`: the JSON API under /api/v1, the contract scripts and the tests use.

`notify` mails users about their web jobs' endings (`[web] notify_by_mail`), in a thread
of the served portal (releasestation.web.server).

No view talks to CUPS or LDAP: they call the parts handed in (releasestation.web.portal
puts them together for a user). docs/web.md has the whole story.
"""

from releasestation.web.app import create_app
from releasestation.web.parts import WebParts, web_parts

__all__ = ["WebParts", "create_app", "web_parts"]
