"""Company and brand ids by name, created on first sight (a budget for a new company, an import, a sync).

Kept apart from the ingest path (core.ingest.record) so that a budget or quota write does not load the rollup writers.
"""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
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
        session.execute(dialect_insert(session)(Company).values(name=name, created_at=datetime.now(UTC))
                        .on_conflict_do_nothing(index_elements=["name"]))
        cid = company_id(session, name)
    return cid


def get_or_create_brand(session: Session, company: int, name: str) -> int:
    bid = brand_id(session, company, name)
    if bid is None:
        session.execute(dialect_insert(session)(Brand).values(company_id=company, name=name)
                        .on_conflict_do_nothing(index_elements=["company_id", "name"]))
        bid = brand_id(session, company, name)
    return bid
