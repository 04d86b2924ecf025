"""Tests for the TNTP readers: the reference files and the format's quirks and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cysim._errors import DemandError, MapError
from cysim.network import tntp

NET_TEXT = """<NUMBER OF ZONES> 2
<NUMBER OF NODES> 3
<FIRST THRU NODE> 3
<NUMBER OF LINKS> 3
<END OF METADATA>

~ init_node term_node capacity length free_flow_time b power speed toll link_type ;
\t1\t3\t1000\t2\t1.5\t0.15\t4\t0\t0\t1\t;
 3 2 1000.5 2 2.5 0.15 4 0 0 1 ;
1\t2\t500\t9\t9\t0.15\t4\t0\t0\t2;   ~ trailing comment, ';' glued to the last field
"""

TRIPS_TEXT = """<NUMBER OF ZONES> 2
<TOTAL OD FLOW> 130.5
<END OF METADATA>
~ a comment line

Origin 1
    1 :      0.0;     2 :    100.0;
Origin\t2
  1 : 30.5 ;
  2:0;
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_network_quirks_are_read(tmp_path: Path) -> None:
    links = tntp.read_tntp_network(_write(tmp_path, "net.tntp", NET_TEXT))
    assert list(links.columns) == list(tntp.NETWORK_COLUMNS)
    assert links["init_node"].tolist() == [1, 3, 1]
    assert links["term_node"].tolist() == [3, 2, 2]
    assert links["capacity"].tolist() == [1000.0, 1000.5, 500.0]
    assert links["free_flow_time"].tolist() == [1.5, 2.5, 9.0]
    assert links["link_type"].tolist() == [1, 1, 2]
    assert links.attrs["first_thru_node"] == 3
    assert links.attrs["number_of_zones"] == 2


def test_trips_quirks_are_read(tmp_path: Path) -> None:
    trips = tntp.read_tntp_trips(_write(tmp_path, "trips.tntp", TRIPS_TEXT))
    # zero rows dropped, long form, file order
    assert trips[["origin", "destination"]].values.tolist() == [[1, 2], [2, 1]]
    assert trips["trips"].tolist() == [100.0, 30.5]
    assert trips.attrs["total"] == pytest.approx(130.5)
    assert trips.attrs["declared_total"] == pytest.approx(130.5)


def test_link_count_mismatch_names_the_header(tmp_path: Path) -> None:
    text = NET_TEXT.replace("<NUMBER OF LINKS> 3", "<NUMBER OF LINKS> 4")
    with pytest.raises(MapError, match="NUMBER OF LINKS"):
        tntp.read_tntp_network(_write(tmp_path, "net.tntp", text))


def test_bad_network_value_names_file_and_line(tmp_path: Path) -> None:
    text = NET_TEXT.replace("1000.5", "lots")
    path = _write(tmp_path, "net.tntp", text)
    with pytest.raises(MapError) as info:
        tntp.read_tntp_network(path)
    assert info.value.line == 9
    assert str(path) in str(info.value)
    assert "'lots'" in str(info.value)


def test_short_network_row_is_an_error(tmp_path: Path) -> None:
    text = NET_TEXT.replace(" 3 2 1000.5 2 2.5 0.15 4 0 0 1 ;", " 3 2 1000.5 2 2.5 ;")
    with pytest.raises(MapError, match="5 fields, expected 10") as info:
        tntp.read_tntp_network(_write(tmp_path, "net.tntp", text))
    assert info.value.line == 9


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(DemandError, match="file not found"):
        tntp.read_tntp_trips(tmp_path / "nope.tntp")
    with pytest.raises(MapError, match="file not found"):
        tntp.read_tntp_network(tmp_path / "nope.tntp")


@pytest.mark.parametrize(
    ("old", "new", "message", "line"),
    [
        ("  1 : 30.5 ;", "  1 : many ;", "'many' is not a number", 9),
        ("  1 : 30.5 ;", "  1 30.5 ;", "destination : trips", 9),
        ("  1 : 30.5 ;", "  1 : -3 ;", "must be ≥ 0", 9),
        ("  2:0;", "  1:0;", "appears twice", 10),
        ("Origin 1\n", "", "before any 'Origin N'", 6),
    ],
)
def test_bad_trips_raise_demand_error_at_the_line(
    tmp_path: Path, old: str, new: str, message: str, line: int
) -> None:
    path = _write(tmp_path, "trips.tntp", TRIPS_TEXT.replace(old, new))
    with pytest.raises(DemandError, match=message) as info:
        tntp.read_tntp_trips(path)
    assert info.value.line == line
    assert info.value.file == str(path)


def test_declared_total_mismatch_is_an_error(tmp_path: Path) -> None:
    text = TRIPS_TEXT.replace("130.5", "999")
    with pytest.raises(DemandError, match="TOTAL OD FLOW") as info:
        tntp.read_tntp_trips(_write(tmp_path, "trips.tntp", text))
    assert info.value.line == 2


def test_metadata_without_end_marker_is_an_error(tmp_path: Path) -> None:
    text = NET_TEXT.replace("<END OF METADATA>\n", "")
    with pytest.raises(MapError, match="END OF METADATA"):
        tntp.read_tntp_network(_write(tmp_path, "net.tntp", text))


def test_sioux_falls_files(shared_data: Path) -> None:
    folder = shared_data / "tntp"
    links = tntp.read_tntp_network(folder / "SiouxFalls_net.tntp")
    assert len(links) == 76
    assert links.attrs["first_thru_node"] == 1
    assert links.loc[0, ["init_node", "term_node"]].tolist() == [1, 2]
    assert links.loc[0, "capacity"] == pytest.approx(25900.20064)
    trips = tntp.read_tntp_trips(folder / "SiouxFalls_trips.tntp")
    assert trips.attrs["total"] == 360_600.0
    assert trips["trips"].sum() == 360_600.0
    assert (trips["trips"] > 0).all()
    assert len(trips) == 528  # 24 × 24 pairs less the zero ones
    flows = tntp.read_tntp_flows(folder / "SiouxFalls_flow.tntp")
    assert len(flows) == 76
    assert flows.loc[0, "volume"] == pytest.approx(4494.6576464564205)
    nodes = tntp.read_tntp_nodes(folder / "SiouxFalls_node.tntp")
    assert len(nodes) == 24
    assert nodes["node"].tolist() == list(range(1, 25))


def test_anaheim_files(shared_data: Path) -> None:
    folder = shared_data / "tntp"
    links = tntp.read_tntp_network(folder / "Anaheim_net.tntp")
    assert len(links) == 914
    assert links.attrs["first_thru_node"] == 39
    assert links.attrs["number_of_nodes"] == 416
    trips = tntp.read_tntp_trips(folder / "Anaheim_trips.tntp")
    assert trips.attrs["total"] == pytest.approx(104_694.40, abs=1e-6)
    assert trips["origin"].max() == 38
