"""Company and brand ids by name, created on first sight (a budget for a new company, an import, a sync).

Kept apart from the ledger writer (core.storage.writer) so that a budget or quota write does not load it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core.storage.db import dialect_insert
from core.storage.models import Brand, Company


def company_id(session: Session, name: str) -> int | None:
    return session.scalar(select(Company.id).where(Company.name == name))


def brand_id(session: Session, company: int, name: str) -> int | None:
    return session.scalar(select(Brand.id).where(Brand.company_id == company, Brand.name == name))


def get_or_create_company(session: Session, name: str) -> int:
    cid = company_id(session, name)
    if cid is None:
        session.execute(
            dialect_insert(session)(Company)
            .values(name=name, created_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["name"])
        )
        cid = company_id(session, name)
    return cid


def get_or_create_brand(session: Session, company: int, name: str) -> int:
    bid = brand_id(session, company, name)
    if bid is None:
        session.execute(
            dialect_insert(session)(Brand)
            .values(company_id=company, name=name)
            .on_conflict_do_nothing(index_elements=["company_id", "name"])
        )
        bid = brand_id(session, company, name)
    return bid


_ID_OF = {get_or_create_company: company_id, get_or_create_brand: brand_id}
# Built once: building the statement cost more than running it.
_BOTH_IDS = (
    select(Company.id, Brand.id)
    .outerjoin(Brand, (Brand.company_id == Company.id) & (Brand.name == bindparam("brand")))
    .where(Company.name == bindparam("company"))
)


class NameIds:
    """Company and brand ids by name, created on first sight, kept for one batch.

    `commit_new`: a new name is created and committed in a transaction of its own. Batches in flight together
    (core.ingest.frames.ingest_frames) would otherwise queue behind the first one's uncommitted insert of the same
    name, for that whole batch (measured: half the time of a 500k-record import of a new company). A name whose
    batch then fails stays, with no record: harmless, as a budget set for a new company leaves it too.
    """

    def __init__(self, session: Session, *, commit_new: bool = False):
        self.session = session
        self.commit_new = commit_new
        self.companies: dict[str, int] = {}
        self.brands: dict[tuple[int, str], int] = {}

    def ids(self, company: str, brand: str) -> tuple[int, int]:
        if company not in self.companies:
            # Both ids in one round trip when they exist (the common case).
            row = self.session.execute(_BOTH_IDS, {"company": company, "brand": brand}).first()
            if row is not None:
                self.companies[company] = row[0]
                if row[1] is not None:
                    self.brands[(row[0], brand)] = row[1]
        cid = self.companies.get(company)
        if cid is None:
            cid = self.companies[company] = self._create(get_or_create_company, company)
        bid = self.brands.get((cid, brand))
        if bid is None:
            bid = self.brands[(cid, brand)] = self._create(get_or_create_brand, cid, brand)
        return cid, bid

    def _create(self, get_or_create, *args) -> int:
        if not self.commit_new:
            return get_or_create(self.session, *args)
        # This transaction may hold the name uncommitted (created earlier in it): then it is found here, and the
        # own transaction below, which would wait for this one forever, is not opened.
        found = _ID_OF[get_or_create](self.session, *args)
        if found is not None:
            return found
        with Session(bind=self.session.get_bind()) as own, own.begin():  # same database as the batch
            return get_or_create(own, *args)
