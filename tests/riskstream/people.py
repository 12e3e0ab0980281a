"""The service database most API tests start from: bank-a's small fleet and four users."""

from pathlib import Path

from devices.registry import Registry
from riskstream.service.database import open_service_database
from riskstream.service.users import UserStore
from tests.fleets import small_fleet


def register_people(db: Path) -> None:
    """bank-a's fleet; anna (officer of b1), rita (risk admin) and otto (auditor) of bank-a;
    bob, risk admin of bank-b."""
    engine = open_service_database(db)
    Registry(engine).import_fleet(small_fleet("bank-a"))
    users = UserStore(engine)
    users.add("anna", "anna-password", "bank-a", "loan_officer", ["b1"])
    users.add("rita", "rita-password", "bank-a", "risk_admin")
    users.add("otto", "otto-password", "bank-a", "auditor")
    users.add("bob", "bob-password!", "bank-b", "risk_admin")
