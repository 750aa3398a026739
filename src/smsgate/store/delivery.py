"""The store's side of delivery, one :class:`DeliveryStore` over a connection, in parts:
claiming queued messages (:mod:`~smsgate.store.claims`), recording what the SMSC answered and
applying receipts (:mod:`~smsgate.store.receipts`), replies (:mod:`~smsgate.store.replies`),
and the customer's reports (:mod:`~smsgate.store.customer_reports`).

Every method is one transaction on the connection it is given, so a dispatcher that dies at any
point leaves the store consistent: a claimed message comes back after its lease, and a part whose
submit_sm_resp was recorded is never submitted again.
"""

from __future__ import annotations

from smsgate.store.claims import Claimed, Claims, queue_depth
from smsgate.store.customer_reports import CustomerReports, ReportQuery, ReportRow
from smsgate.store.db import Db
from smsgate.store.receipts import (ORPHAN_KEEP_MS, RECEIPT_GRACE_MS, Final, PartSubmitted, Receipt,
                                    Receipts, Unmatched, Waited)
from smsgate.store.replies import Replies

__all__ = ["ORPHAN_KEEP_MS", "RECEIPT_GRACE_MS", "Claimed", "DeliveryStore", "Final", "PartSubmitted",
           "Receipt", "ReportQuery", "ReportRow", "Unmatched", "Waited", "queue_depth"]


class DeliveryStore(Claims, Receipts, Replies, CustomerReports):
    def __init__(self, db: Db, grace_ms: int = RECEIPT_GRACE_MS) -> None:
        self.db = db
        self.grace_ms = grace_ms
