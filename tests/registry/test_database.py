import threading
import time

import pytest
import sqlalchemy as sa

from deploykit.errors import StorageError
from deploykit.registry.database import mask_url, run_in_transaction


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql+psycopg://bob:pw@db:5432/dk", "postgresql+psycopg://bob:***@db:5432/dk"),
        ("sqlite:////tmp/r.db", "sqlite:////tmp/r.db"),
        ("not a url://bob:pw@db", "not a url://bob:***@db"),
    ],
)
def test_mask_url_hides_passwords(url, masked):
    assert mask_url(url) == masked


def test_versions_is_one_query_whatever_the_number_of_versions(reg, model):
    for _ in range(3):
        reg.push(model, "churn")
    reg.deploy("churn", 2)
    reg.deploy("churn", 2, alias="staging")
    statements = []
    sa.event.listen(reg.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    versions = reg.versions("churn")
    assert [v.aliases for v in versions] == [(), ("production", "staging"), ()]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1
    assert "version_profiles" not in selects[0]


def test_a_writer_waits_for_the_lock_instead_of_failing(reg):
    """A transaction that holds the write lock delays another writer; it does not fail it."""
    holding = threading.Event()

    def hold():
        with reg.engine.execution_options(deploykit_write=True).begin() as connection:
            connection.exec_driver_sql("SELECT 1")
            holding.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    start = time.monotonic()
    result = run_in_transaction(reg.engine, lambda c: c.exec_driver_sql("SELECT 2").scalar())
    holder.join()
    assert result == 2
    assert time.monotonic() - start >= 0.3


def test_a_database_error_becomes_a_storage_error_naming_the_database(reg):
    with pytest.raises(StorageError, match=r"registry\.db"):
        run_in_transaction(reg.engine, lambda c: c.exec_driver_sql("SELECT * FROM nowhere"))
