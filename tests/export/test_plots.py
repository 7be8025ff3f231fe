"""Plots (issue 6, item 6): swimmer plot, AE heat map, ANC and platelet recovery curves, each as PNG and SVG.

The files are read back with independent readers (Pillow for PNG, lxml for SVG) and checked against the
database through the ORM, not through the export code.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import pytest
import sqlalchemy as sa
from lxml import etree
from matplotlib import font_manager
from PIL import Image
from sqlalchemy.orm import Session

from jk500db import migrate
from jk500db.audit.context import set_change_context, system_context
from jk500db.db import create_engine
from jk500db.export import plots
from jk500db.export.context import ExportContext
from jk500db.export.plots import heatmap, style, swimmer
from jk500db.export.plots.courses import Course, Episode, PlotData, Response, SevereEvent, read
from jk500db.export.plots.scale import KNEE_DAY, LATE_SHARE, DayScale
from jk500db.export.snapshot import open_snapshot
from jk500db.models import AdverseEvent, CtcaeTerm, Death, DrugAdministration, Infusion, ResponseAssessment, Subject
from jk500db.models.vocabularies import Agent
from jk500db.services.study_definition import SEED_DATA_DIR, load_study_definition
from jk500db.services.terminology import load_ctcae_terms
from tests.conftest import ENGINES, postgres_database

PLOTS = ("swimmer", "ae_heatmap", "anc_recovery", "platelet_recovery")
SVG = "{http://www.w3.org/2000/svg}"
LYMPHODEPLETION = (Agent.CYCLOPHOSPHAMIDE, Agent.FLUDARABINE)
#: the same export in a fresh interpreter with another string-hash seed: set and dict order may differ there
SUBPROCESS_EXPORT = """
import sys
from pathlib import Path
from sqlalchemy.orm import Session
from jk500db.db import create_engine
from jk500db.export import plots
from jk500db.export.context import ExportContext
from jk500db.export.snapshot import open_snapshot

engine = create_engine(sys.argv[1])
with Session(engine) as session:
    plots.write(ExportContext(session, open_snapshot(session), Path(sys.argv[2])))
engine.dispose()
"""


def svg_texts(path: Path) -> list[str]:
    """Every text of an SVG (matplotlib keeps text as <text> with svg.fonttype 'none')."""
    document = etree.parse(str(path))
    return ["".join(element.itertext()) for element in document.iter(f"{SVG}text")]


def svg_size_px(path: Path) -> tuple[float, float]:
    """The SVG's size in points, as PNG pixels at the plots' resolution."""
    root = etree.parse(str(path)).getroot()
    width, height = (float(root.get(side, "").removesuffix("pt")) for side in ("width", "height"))
    return width / 72 * style.DPI, height / 72 * style.DPI


@dataclass(frozen=True)
class Written:
    """The plots of the export study drawn three times: two threads at once, and a separate interpreter."""

    files: list[Path]
    threads: tuple[Path, Path]
    process: Path

    @property
    def folder(self) -> Path:
        return self.threads[0] / "plots"

    def svg(self, stem: str) -> Path:
        return self.folder / f"{stem}.svg"


@pytest.fixture(scope="module")
def written(study_url: str, tmp_path_factory: pytest.TempPathFactory) -> Written:
    """Drawing is the slow part, so the export study's plots are written once per engine for the module."""
    outs = (tmp_path_factory.mktemp("plots-thread-a"), tmp_path_factory.mktemp("plots-thread-b"))
    engine = create_engine(study_url)
    results: dict[int, list[Path]] = {}
    errors: list[BaseException] = []

    def export(index: int) -> None:
        try:
            with Session(engine) as session:
                results[index] = plots.write(ExportContext(session, open_snapshot(session), outs[index]))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    try:
        workers = [threading.Thread(target=export, args=(index,)) for index in (0, 1)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        engine.dispose()
    assert not errors, errors
    process = tmp_path_factory.mktemp("plots-process")
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, "-c", SUBPROCESS_EXPORT, study_url, str(process)],
        check=True,
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
    )
    return Written(results[0], outs, process)


@pytest.fixture(params=ENGINES)
def empty_study(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    """A study with its definition and the CTCAE terms but no subject yet."""
    if request.param == "sqlite":
        yield from _empty_session(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        return
    with postgres_database("jk500db_plots") as url:
        yield from _empty_session(url)


def _empty_session(url: str) -> Iterator[Session]:
    engine = create_engine(url)
    try:
        migrate.upgrade(engine)
        with Session(engine) as session:
            set_change_context(session, system_context("pytest plots", reason="empty study for the plots"))
            load_study_definition(session)
            load_ctcae_terms(session, SEED_DATA_DIR / "ctcae_v5.0_terms.csv")
            session.commit()
            yield session
    finally:
        engine.dispose()


def treated_subject_numbers(session: Session) -> set[str]:
    """Subjects with a JK500 infusion or a lymphodepletion dose given (read through the ORM)."""
    infused = sa.select(Infusion.subject_id).where(Infusion.removed_at.is_(None))
    lymphodepleted = sa.select(DrugAdministration.subject_id).where(
        DrugAdministration.removed_at.is_(None),
        DrugAdministration.not_given.is_(False),
        DrugAdministration.agent.in_(LYMPHODEPLETION),
    )
    return set(
        session.scalars(
            sa.select(Subject.subject_number).where(
                Subject.removed_at.is_(None), Subject.id.in_(infused.union(lymphodepleted))
            )
        )
    )


# --- files ---------------------------------------------------------------------------------------------------------


def test_every_plot_is_written_as_png_and_svg(written: Written) -> None:
    names = sorted(path.name for path in written.folder.iterdir())
    assert sorted(path.name for path in written.files) == names  # every file returned, nothing else written
    for plot in PLOTS:
        assert f"{plot}_01.png" in names
        assert f"{plot}_01.svg" in names
    stems = {name.rsplit(".", 1)[0] for name in names}
    assert names == sorted(f"{stem}.{suffix}" for stem in stems for suffix in ("png", "svg"))


def test_png_opens_with_the_size_of_its_svg_and_carries_no_date(written: Written, study: Session) -> None:
    for png in sorted(written.folder.glob("*.png")):
        with Image.open(png) as image:
            image.verify()
        with Image.open(png) as image:
            assert image.format == "PNG"
            width, height = svg_size_px(png.with_suffix(".svg"))
            assert abs(image.width - width) <= 1 and abs(image.height - height) <= 1, png.name
            assert round(image.info["dpi"][0]) == style.DPI
            assert "Software" not in image.info
            assert not [key for key in map(str, image.info) if "time" in key.lower() or "date" in key.lower()]
    with Image.open(written.folder / "swimmer_01.png") as image:
        assert image.width == round(swimmer.WIDTH_IN * style.DPI)
        lanes = min(len(treated_subject_numbers(study)), swimmer.LANES_PER_PAGE)
        assert image.height > lanes * swimmer.LANE_IN * style.DPI


def test_svg_keeps_subject_numbers_and_terms_as_text(written: Written, study: Session) -> None:
    """One lane per treated subject, named by SUBJID; the heat map names every CTCAE term recorded."""
    lanes = {text.rstrip("*") for text in svg_texts(written.svg("swimmer_01"))}
    treated = treated_subject_numbers(study)
    assert treated <= lanes
    untreated = set(study.scalars(sa.select(Subject.subject_number))) - treated
    assert untreated and not untreated & lanes  # screen failures have no lane
    heat_map = set(svg_texts(written.svg("ae_heatmap_01")))
    events = study.execute(
        sa.select(Subject.subject_number, CtcaeTerm.term, CtcaeTerm.other_specify)
        .join(AdverseEvent, AdverseEvent.subject_id == Subject.id)
        .join(CtcaeTerm, CtcaeTerm.id == AdverseEvent.ctcae_term_id)
        .where(AdverseEvent.removed_at.is_(None))
    ).all()
    assert {number for number, _, _ in events} <= heat_map
    assert {term for _, term, other in events if not other} <= heat_map


def test_same_database_gives_byte_identical_files(written: Written) -> None:
    """Two exports drawn in two threads at once and one in another interpreter (another hash seed) agree."""
    other_thread, process = written.threads[1] / "plots", written.process / "plots"
    names = sorted(path.name for path in written.folder.iterdir())
    assert sorted(path.name for path in process.iterdir()) == names
    for name in names:
        reference = (written.folder / name).read_bytes()
        assert (other_thread / name).read_bytes() == reference, name
        assert (process / name).read_bytes() == reference, name


def test_no_birth_date_in_any_plot(written: Written, study: Session) -> None:
    births = list(study.scalars(sa.select(Subject.birth_date)))
    spellings = {
        spelling
        for birth in births
        for spelling in (birth.isoformat(), birth.strftime("%d/%m/%Y"), birth.strftime("%Y%m%d"))
    }
    for path in written.files:
        content = path.read_bytes().decode("latin-1")  # PNG text chunks are latin-1; the SVG is ASCII-safe here
        assert not [spelling for spelling in spellings if spelling in content], path.name
        assert "birth" not in content.lower(), path.name


def test_recovery_reference_lines_are_the_rule_thresholds(written: Written) -> None:
    """CTCAE v5.0 grade 4: ANC < 0.5, platelets < 25.0 (×10⁹/L); ELN 2022 (Döhner 2022): CRh ANC ≥ 0.5 and
    platelets ≥ 50, CR ANC ≥ 1.0 and platelets ≥ 100."""
    anc = svg_texts(written.svg("anc_recovery_01"))
    assert "0.5: CTCAE grade 4 below, ELN 2022 CRh from" in anc
    assert "1.0: ELN 2022 CR from" in anc
    platelets = svg_texts(written.svg("platelet_recovery_01"))
    assert {"25.0: CTCAE grade 4 below", "50: ELN 2022 CRh from", "100: ELN 2022 CR from"} <= set(platelets)


# --- what is drawn -------------------------------------------------------------------------------------------------


def test_courses_are_on_protocol_days_with_the_stored_values(study: Session, tmp_path: Path) -> None:
    """Day 0 = first JK500 infusion, day = date − day-0 date (CLINICAL_RULES.md); ELN 2022 categories and AE
    grades as stored."""
    data = read(ExportContext(study, open_snapshot(study), tmp_path))
    first_infusions = study.execute(
        sa.select(Subject.subject_number, sa.func.min(Infusion.started_at))
        .join(Infusion, Infusion.subject_id == Subject.id)
        .where(Infusion.removed_at.is_(None))
        .group_by(Subject.subject_number)
    )
    day0: dict[str, dt.datetime] = {number: moment for number, moment in first_infusions}
    infused = [c for c in data.courses if c.infused]
    assert {c.label for c in infused} == set(day0)
    for course in infused:
        first_date = day0[course.label].astimezone(dt.UTC).date()
        assert course.day0 == first_date and min(course.infusions) == 0
        subject = study.scalars(sa.select(Subject).where(Subject.subject_number == course.label)).one()
        cyclophosphamide = [
            a.started_at.astimezone(dt.UTC).date()
            for a in subject.administrations
            if a.agent == Agent.CYCLOPHOSPHAMIDE and not a.not_given and a.removed_at is None and a.started_at
        ]
        assert min(course.lymphodepletion) == (min(cyclophosphamide) - first_date).days < 0
        stored = sorted(
            ((r.assessed_on - first_date).days, str(r.eln_category))
            for r in study.scalars(sa.select(ResponseAssessment).where(ResponseAssessment.subject_id == subject.id))
            if r.removed_at is None and r.eln_category is not None
        )
        assert sorted((r.day, r.category) for r in course.responses) == stored
        death = study.scalars(
            sa.select(Death).where(Death.subject_id == subject.id, Death.removed_at.is_(None))
        ).first()
        assert course.death == (None if death is None else (death.death_date - first_date).days)
    deaths = [c for c in infused if c.death is not None]
    assert deaths and all(not c.continuing for c in deaths)


def test_heat_map_cell_is_the_worst_investigator_grade_outside_crs_and_icans(study: Session, tmp_path: Path) -> None:
    data = read(ExportContext(study, open_snapshot(study), tmp_path))
    rows = study.execute(
        sa.select(Subject.subject_number, CtcaeTerm.term, sa.func.max(AdverseEvent.grade))
        .join(AdverseEvent, AdverseEvent.subject_id == Subject.id)
        .join(CtcaeTerm, CtcaeTerm.id == AdverseEvent.ctcae_term_id)
        .where(
            AdverseEvent.removed_at.is_(None),
            CtcaeTerm.other_specify.is_(False),
            CtcaeTerm.term != "Cytokine release syndrome",
        )
        .group_by(Subject.subject_number, CtcaeTerm.term)
    ).all()
    assert rows
    for number, term, grade in rows:
        assert data.worst_grades[number][term] == grade, (number, term)


def test_terms_are_ordered_by_subjects_then_name() -> None:
    grades = {"01-001": {"Nausea": 1, "Anemia": 3}, "01-002": {"Nausea": 2, "Fever": 1}, "01-003": {"Anemia": 1}}
    assert heatmap.term_order(grades) == ["Anemia", "Nausea", "Fever"]


# --- empty and large studies ---------------------------------------------------------------------------------------


def test_a_study_with_no_infusion_yet_draws_lanes_from_lymphodepletion(study: Session, tmp_path: Path) -> None:
    """Infusions not yet recorded (here: removed, rolled back after the test): every lymphodepleted subject still
    has a lane, marked as not infused, and every plot is written."""
    study.execute(
        sa.update(Infusion)
        .where(Infusion.removed_at.is_(None))
        .values(removed_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC), removed_reason="not yet infused (test)")
    )
    files = plots.write(ExportContext(study, open_snapshot(study), tmp_path))
    assert {f"{plot}_01.png" for plot in PLOTS} <= {path.name for path in files}
    lanes = svg_texts(tmp_path / "plots" / "swimmer_01.svg")
    assert {f"{number}*" for number in treated_subject_numbers(study)} <= set(lanes)
    caption = " ".join(lanes)  # the caption is wrapped into lines, one text each
    assert "* not infused: day 0 placed so that the first lymphodepletion dose falls on planned day -7." in caption
    for path in files:
        if path.suffix == ".png":
            with Image.open(path) as image:
                image.verify()


def test_an_empty_study_gives_every_plot_with_a_message(empty_study: Session, tmp_path: Path) -> None:
    files = plots.write(ExportContext(empty_study, open_snapshot(empty_study), tmp_path))
    assert sorted(path.name for path in files) == sorted(
        f"{plot}_01.{kind}" for plot in PLOTS for kind in ("png", "svg")
    )
    folder = tmp_path / "plots"
    assert "No subject has received lymphodepletion or JK500 yet: no course to draw." in svg_texts(
        folder / "swimmer_01.svg"
    )
    assert "No adverse event has been recorded yet: no grade to draw." in svg_texts(folder / "ae_heatmap_01.svg")
    assert any(text.startswith("No ANC (NEUT) result") for text in svg_texts(folder / "anc_recovery_01.svg"))
    for path in files:
        if path.suffix == ".png":
            with Image.open(path) as image:
                image.verify()


def synthetic_courses(count: int) -> list[Course]:
    """Courses built in memory: the paging does not depend on the database."""
    return [
        Course(
            subject_id=index,
            label=f"09-{index:03d}",
            infused=True,
            day0=dt.date(2025, 1, 1),
            lymphodepletion=[-7, -6, -5, -4, -3, -2],
            infusions=[0, 7, 14],
            responses=[Response(28, "CR", index % 2 == 0)],
            severe_events=[SevereEvent(3, 3 + index % 3)],
            episodes=[Episode("CRS", 1, 4, 2, ongoing=False)],
            last_day=90 + index,
            continuing=True,
        )
        for index in range(1, count + 1)
    ]


def test_a_large_study_is_paged_and_the_caption_says_how_many_are_shown(tmp_path: Path) -> None:
    courses = synthetic_courses(130)
    terms = {f"Term {n:02d}": 1 + n % 5 for n in range(55)}
    data = PlotData("JK500", "Data at audit event 1.", courses, 0, {c.label: terms for c in courses}, 0, -7)
    with style.drawing():
        swimmer_files = swimmer.write(data, tmp_path)
        heatmap_files = heatmap.write(data, tmp_path)
    assert [path.name for path in swimmer_files] == [
        f"swimmer_{page:02d}.{kind}" for page in (1, 2, 3) for kind in ("png", "svg")
    ]
    assert [path.name for path in heatmap_files] == [
        f"ae_heatmap_{page:02d}.{kind}" for page in (1, 2) for kind in ("png", "svg")
    ]
    last = " ".join(svg_texts(tmp_path / "swimmer_03.svg"))
    assert "the first 120 by subject number are shown" in last
    assert "this page: 09-081 to 09-120" in last
    drawn = {text for page in (1, 2, 3) for text in svg_texts(tmp_path / f"swimmer_{page:02d}.svg")}
    assert "09-120" in drawn and "09-121" not in drawn
    heat = " ".join(svg_texts(tmp_path / "ae_heatmap_02.svg"))
    assert f"the {heatmap.MAX_TERMS} most frequent of 55 terms are shown" in heat
    with Image.open(tmp_path / "swimmer_01.png") as image:
        assert image.height > swimmer.LANES_PER_PAGE * swimmer.LANE_IN * style.DPI


# --- style and scale -----------------------------------------------------------------------------------------------


def test_drawing_uses_the_bundled_font_and_restores_matplotlib_settings() -> None:
    """The text is laid out with matplotlib's own DejaVu Sans whatever fonts the machine has, and the style
    does not leak into the rest of the process."""
    before = dict(mpl.rcParams)
    with style.drawing():
        assert mpl.rcParams["svg.hashsalt"] == "jk500db-plots"
        found = font_manager.findfont(font_manager.FontProperties(family=mpl.rcParams["font.family"]))
        assert Path(found).is_relative_to(Path(mpl.get_data_path()) / "fonts")
        assert Path(found).name == "DejaVuSans.ttf"
    assert dict(mpl.rcParams) == before


def test_day_scale_keeps_the_first_eight_weeks_at_full_width() -> None:
    long = DayScale(-10, 400)
    assert long.compressed
    assert long.share(-10) == 0 and long.share(400) == 1
    assert long.share(KNEE_DAY) == pytest.approx(1 - LATE_SHARE)
    assert long.share(28) - long.share(0) == pytest.approx((1 - LATE_SHARE) * 28 / (KNEE_DAY + 10))
    assert list(long.inverse(long.forward([-10, 0, 30, 56, 200, 400]))) == pytest.approx([-10, 0, 30, 56, 200, 400])
    ticks = long.ticks(9.0)
    assert 0 in ticks and KNEE_DAY in ticks and ticks == sorted(ticks)
    short = DayScale(-10, 40)
    assert not short.compressed
    assert short.share(15) == pytest.approx(0.5)
    assert 0 in short.ticks(3.0)
