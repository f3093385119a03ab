# SPDX-License-Identifier: GPL-3.0-or-later
"""Mail-to-print: `releasestation mailprint` fetches mail from an IMAP mailbox and holds each
printable attachment as a job of its sender (docs/mailprint.md).

- settings: `[mailprint]` (MailprintSettings);
- mailbox: the IMAP connection (TLS with certificate checks, IDLE or polling, moves);
- message: what a mail is — its sender, its attachments, whether it is an auto-reply, what
  its Authentication-Results say;
- senders: who a sender is (a directory user, a visitor, or refused, and why);
- ledger: the Message-IDs handled (table `mail_messages`), so a restart neither loses a
  mail nor prints one twice, and the per-sender hourly limit;
- reply: the short answer to a refused mail;
- service: MailPrint, one mail at a time from fetch to held jobs, the PIN and the move.

This package never imports the web portal; it uses submit (the same document checks),
the directory, the visitors' flow and the store, handed in by releasestation.app.
"""
