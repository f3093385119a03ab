# SPDX-License-Identifier: GPL-3.0-or-later
"""Documents sent to the station to print: checked once, then submitted as held jobs.

The web portal's upload and mail-to-print both come through here:

- `check_document(data, filename, limits)` (documents): the type by content, pages, size
  and title of a document, or DocumentRefused with a reason for its sender; Office
  documents converted to PDF when `DocumentLimits.convert_office` (office);
- `Submitter.submit(user, document, via, options)` (submitter): a CheckedDocument held on
  the station's first hold queue, owned by the user, audited.

Neither surface talks to CUPS: `Submitter` uses `PrintServer.submit_held`
(releasestation.printq.submission). releasestation.app builds the Submitter.
"""

from releasestation.submit.documents import CheckedDocument, DocumentLimits, check_document
from releasestation.submit.submitter import PrintOptions, Submitter

__all__ = [
    "CheckedDocument",
    "DocumentLimits",
    "PrintOptions",
    "Submitter",
    "check_document",
]
