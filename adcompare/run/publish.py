"""asv's pages and the adcompare report, built in a scratch folder and swapped into
results/html whole, so a reader never sees half of either."""

from __future__ import annotations

from pathlib import Path

from adcompare.errors import UserError
from adcompare.run.checkout import asv, write_config
from adcompare.run.interrupts import checkpoint
from adcompare.store.folder import swap_html

REPORT_PAGE = Path("html") / "adcompare" / "index.html"   # inside the results directory


def publish(root: Path, results: Path, scratch: Path, log=print) -> tuple[bool, Path | None]:
    """(asv published, the report's path or None)."""
    html = scratch / "html"
    config = write_config(root, results, html, scratch)
    published = asv(config, "publish", capture=True)
    if published.returncode != 0:
        log((published.stdout + published.stderr).strip())
        html.mkdir(parents=True, exist_ok=True)
    page = None
    checkpoint("report")
    try:
        from adcompare.report import build_report
        page = Path(build_report(results, html / "adcompare" / "index.html"))
    except ImportError as err:
        log(f"note: the adcompare report was not built ({err}); install the project with the README's command")
    except UserError as err:
        log(f"note: the adcompare report was not built: {err}")
    swap_html(results, html)
    return published.returncode == 0, (results / REPORT_PAGE) if page else None
