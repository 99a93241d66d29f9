"""Dataset layouts: miniature trees of every seed dataset, scanned into items with exact fields."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import invoke_cli, shared_data
from vocaltools.datasets.itemlist import read_items, write_items
from vocaltools.datasets.layouts import LAYOUTS, get_layout
from vocaltools.datasets.layouts.instruments import S4_CLASSES, instrument_class
from vocaltools.datasets.layouts.iowa import parse_iowa_name
from vocaltools.datasets.layouts.lpo import parse_lpo_name
from vocaltools.datasets.layouts.vocalset import normalize_singer, normalize_technique
from vocaltools.errors import ConfigError, InputError


def noise(path: Path, n_samples: int = 300, sample_rate: int = 16000) -> Path:
    """A few hundred samples of seeded noise, in the format the suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    signal = np.random.default_rng(len(path.name)).standard_normal(n_samples) * 0.1
    audio_format = "AIFF" if path.suffix.lower() in (".aif", ".aiff") else None
    sf.write(path, signal.astype(np.float32), sample_rate, format=audio_format)
    return path


def fake(path: Path) -> Path:
    """A file that is not decodable audio (mp3/m4a cannot be written here; scans read names only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not really audio")
    return path


def by_id(items):
    return {item.item_id: dict(item.fields) for item in items}


# -- registry ------------------------------------------------------------------------------------

def test_registry_names_and_contract(tmp_path):
    assert set(LAYOUTS) == {"artist20", "vocalset", "damp", "damp-balanced", "lpo", "iowa",
                            "s4-instruments", "gtsinger-demo"}
    for name, layout in LAYOUTS.items():
        assert layout.name == name and layout.description and layout.field_names
        assert set(layout.option_help) == set(layout.options())
        # a folder that holds none of the layout's files is an error naming the folder
        with pytest.raises(InputError, match=str(tmp_path)):
            layout.scan(tmp_path)


def test_unknown_layout_and_option_suggest_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'vocalset'"):
        get_layout("vocalst")
    with pytest.raises(ConfigError, match="did you mean 'techniques'"):
        get_layout("vocalset", ["technique=s3"])
    with pytest.raises(ConfigError, match="true or false"):
        get_layout("lpo", ["include_other=maybe"])
    assert get_layout("lpo", {"include_other": "yes"}).include_other is True
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        get_layout("lpo", ["nope"])


def test_missing_root_and_empty_root(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        LAYOUTS["artist20"].scan(tmp_path / "absent")
    with pytest.raises(InputError, match="found no artist20 audio files"):
        LAYOUTS["artist20"].scan(tmp_path)


# -- artist20 ------------------------------------------------------------------------------------

def test_artist20_tree(tmp_path):
    root = tmp_path / "artist20"
    fake(root / "mp3s-32k/aerosmith/Aerosmith/01-Make_It.mp3")
    fake(root / "mp3s-32k/aerosmith/Pump/10-Janie_s_Got_A_Gun.mp3")
    fake(root / "mp3s-32k/beatles/Help/Yesterday.mp3")
    fake(root / "mp3s-32k/beatles/Help/._Yesterday.mp3")        # macOS copy: ignored
    fake(root / "mp3s-32k/beatles/stray.mp3")                   # wrong depth: skipped
    (root / "lists").mkdir()
    (root / "lists/a20-all-tracks.txt").write_text("aerosmith/Aerosmith/01-Make_It\n")
    report = LAYOUTS["artist20"].scan_report(root)
    assert by_id(report.items) == {
        "mp3s-32k/aerosmith/Aerosmith/01-Make_It": {
            "artist": "aerosmith", "album": "Aerosmith", "song": "Make It", "track": 1,
            "song_id": "aerosmith/Aerosmith/01-Make_It"},
        "mp3s-32k/aerosmith/Pump/10-Janie_s_Got_A_Gun": {
            "artist": "aerosmith", "album": "Pump", "song": "Janie s Got A Gun", "track": 10,
            "song_id": "aerosmith/Pump/10-Janie_s_Got_A_Gun"},
        "mp3s-32k/beatles/Help/Yesterday": {
            "artist": "beatles", "album": "Help", "song": "Yesterday", "track": 0,
            "song_id": "beatles/Help/Yesterday"},
    }
    assert [s.path for s in report.skipped] == ["mp3s-32k/beatles/stray.mp3"]
    # the same song ids when ROOT is the mp3s-32k folder itself
    inner = LAYOUTS["artist20"].scan(root / "mp3s-32k")
    assert [i.item_id for i in inner] == ["aerosmith/Aerosmith/01-Make_It",
                                          "aerosmith/Pump/10-Janie_s_Got_A_Gun",
                                          "beatles/Help/Yesterday"]
    assert [i.fields["song_id"] for i in inner] == [
        f["song_id"] for f in by_id(report.items).values()]


# -- VocalSet ------------------------------------------------------------------------------------

def vocalset_tree(root: Path) -> Path:
    full = root / "FULL"
    for rel in [
        "female2/arpeggios/belt/f2_arpeggios_belt_a.wav",
        "female2/arpeggios/lip_trill/lip_trill_arps.wav",           # no singer prefix
        "female2/scales/vibrato/f2_scales_vibrato_a.wav",
        "female2/scales/vibrato/f2_scales_vibrato_a(1).wav",        # duplicate download
        "female2/scales/Vocal Fry/f2_scales_vocal_fry_e.wav",       # folder spelling
        "f1/arpeggios/straight/f1_arpeggios_a_straight.wav",        # vowel before technique
        "male10/scales/fast_piano/m10_scales_c_fast_piano_i.wav",   # key letter
        "m3/excerpts/vibrato/caro_vibrato.wav",                     # excerpt, no prefix
        "m3/long_tones/breathy/m3_long_breathy_o.wav",
    ]:
        noise(full / rel)
    fake(full / "female2/arpeggios/belt/._f2_arpeggios_belt_a.wav")
    (full / "female2/.DS_Store").write_bytes(b"\0")
    noise(full / "male3/readme_tone.wav")                           # wrong depth
    (root / "test_singers_technique.txt").write_text("female2\nfemale8\nmale3\nmale5\nmale10\n")
    return root


def test_vocalset_tree_fields_and_quirks(tmp_path):
    root = vocalset_tree(tmp_path / "VocalSet")
    report = LAYOUTS["vocalset"].scan_report(root)
    items = by_id(report.items)
    assert set(items) == {
        "FULL/female2/arpeggios/belt/f2_arpeggios_belt_a",
        "FULL/female2/arpeggios/lip_trill/lip_trill_arps",
        "FULL/female2/scales/vibrato/f2_scales_vibrato_a",
        "FULL/female2/scales/Vocal Fry/f2_scales_vocal_fry_e",
        "FULL/f1/arpeggios/straight/f1_arpeggios_a_straight",
        "FULL/male10/scales/fast_piano/m10_scales_c_fast_piano_i",
        "FULL/m3/excerpts/vibrato/caro_vibrato",
        "FULL/m3/long_tones/breathy/m3_long_breathy_o",
    }
    assert items["FULL/female2/arpeggios/belt/f2_arpeggios_belt_a"] == {
        "singer": "f2", "gender": "female", "context": "arpeggios", "technique": "belt",
        "vowel": "a", "key": "", "excerpt": "", "pitch_range": "", "start_s": "",
        "official_split": "test"}
    assert items["FULL/female2/arpeggios/lip_trill/lip_trill_arps"]["singer"] == "f2"
    assert items["FULL/female2/scales/Vocal Fry/f2_scales_vocal_fry_e"]["technique"] == "vocal_fry"
    straight = items["FULL/f1/arpeggios/straight/f1_arpeggios_a_straight"]
    assert (straight["vowel"], straight["official_split"]) == ("a", "train")
    fast = items["FULL/male10/scales/fast_piano/m10_scales_c_fast_piano_i"]
    assert (fast["singer"], fast["key"], fast["vowel"], fast["technique"]) == (
        "m10", "c", "i", "fast_piano")
    caro = items["FULL/m3/excerpts/vibrato/caro_vibrato"]
    assert (caro["singer"], caro["excerpt"], caro["context"], caro["gender"]) == (
        "m3", "caro", "excerpts", "male")
    assert {s.path: s.reason for s in report.skipped} == {
        "FULL/female2/scales/vibrato/f2_scales_vibrato_a(1).wav":
            "duplicate of f2_scales_vibrato_a.wav",
        "FULL/male3/readme_tone.wav":
            "name is not <singer>_<context>_<technique>_<vowel>_<low|high>Pitch_<start> "
            "(e.g. f3_arpeggios_belt_u_highPitch_2.6006)",
    }


def vocalset_excerpts_tree(root: Path) -> Path:
    audio = root / "audio"
    for rel in [
        "f3/f3_arpeggios_belt_u_highPitch_2.6006.flac",
        "f3/f3_scales_vocal_fry_a_lowPitch_0.52.flac",       # technique with an underscore
        "m2/m2_long_tones_breathy_o_highPitch_11.flac",      # context with an underscore
        "m2/m1_scales_straight_e_lowPitch_3.2.flac",         # name and folder disagree
        "m2/m2_scales_yodel_e_lowPitch_3.2.flac",            # not a VocalSet technique
        "m2/notes.flac",
    ]:
        noise(audio / rel)
    noise(audio / "m2" / "deeper" / "m2_scales_straight_e_lowPitch_3.2.flac")  # wrong depth
    return root


def test_vocalset_excerpts_read_labels_from_names(tmp_path):
    root = vocalset_excerpts_tree(tmp_path / "vocalset-excerpts")
    for scan_root in (root, root / "audio"):  # the folder holding audio/, or audio/ itself
        report = LAYOUTS["vocalset"].scan_report(scan_root)
        prefix = "audio/" if scan_root == root else ""
        items = by_id(report.items)
        assert set(items) == {f"{prefix}f3/f3_arpeggios_belt_u_highPitch_2.6006",
                              f"{prefix}f3/f3_scales_vocal_fry_a_lowPitch_0.52",
                              f"{prefix}m2/m2_long_tones_breathy_o_highPitch_11"}
        assert items[f"{prefix}f3/f3_arpeggios_belt_u_highPitch_2.6006"] == {
            "singer": "f3", "gender": "female", "context": "arpeggios", "technique": "belt",
            "vowel": "u", "key": "", "excerpt": "", "pitch_range": "high", "start_s": "2.6006",
            "official_split": "train"}
        fry = items[f"{prefix}f3/f3_scales_vocal_fry_a_lowPitch_0.52"]
        assert (fry["technique"], fry["context"], fry["pitch_range"]) == ("vocal_fry", "scales", "low")
        tones = items[f"{prefix}m2/m2_long_tones_breathy_o_highPitch_11"]
        assert (tones["context"], tones["technique"], tones["gender"]) == (
            "long_tones", "breathy", "male")
        reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in report.skipped}
        assert reasons["m1_scales_straight_e_lowPitch_3.2.flac"].startswith("name says singer m1")
        assert "not a VocalSet technique" in reasons["m2_scales_yodel_e_lowPitch_3.2.flac"]
        assert reasons["notes.flac"].startswith("name is not <singer>_<context>")
        assert reasons["m2_scales_straight_e_lowPitch_3.2.flac"].startswith("not at <singer>/")


def test_vocalset_layout_reads_the_shared_excerpts():
    root = shared_data("vocalset-excerpts")
    items = LAYOUTS["vocalset"].scan(root)
    rows = {row["path"].rsplit(".", 1)[0]: row
            for row in csv.DictReader(open(root / "metadata.csv", encoding="utf-8"))}
    assert len(items) == len(rows) == 120
    for item in items:  # the names say what the CSV says
        row = rows[item.item_id]
        assert {k: item.fields[k] for k in ("singer", "gender", "context", "technique", "vowel",
                                            "pitch_range")} == {
            k: row[k] for k in ("singer", "gender", "context", "technique", "vowel", "pitch_range")}
    assert sorted({i.fields["technique"] for i in items}) == [
        "belt", "breathy", "straight", "vibrato", "vocal_fry"]


def test_vocalset_options(tmp_path):
    root = vocalset_tree(tmp_path / "VocalSet")
    s3 = get_layout("vocalset", ["techniques=s3"]).scan(root)
    assert sorted({i.fields["technique"] for i in s3}) == [
        "belt", "breathy", "lip_trill", "straight", "vibrato", "vocal_fry"]
    keep = get_layout("vocalset", ["drop_duplicates=false"]).scan(root)
    assert len(keep) == 9
    custom = get_layout("vocalset", ["test_singers=f1"]).scan(root)
    assert {i.fields["singer"] for i in custom if i.fields["official_split"] == "test"} == {"f1"}
    with pytest.raises(ConfigError, match="unknown techniques"):
        get_layout("vocalset", ["techniques=belt,yodel"]).scan(root)


def test_vocalset_name_normalisation():
    assert [normalize_singer(s) for s in ("female3", "Male 11", "f9", "m1", "tenor")] == [
        "f3", "m11", "f9", "m1", None]
    assert [normalize_technique(t) for t in ("Vocal Fry", "liptrill", "inhaled_singing",
                                             "Straight", "lip-trill", "vibrado")] == [
        "vocal_fry", "lip_trill", "inhaled", "straight", "lip_trill", "vibrato"]


# -- DAMP ----------------------------------------------------------------------------------------

def test_damp_folders(tmp_path):
    root = tmp_path / "damp"
    for singer in ("u2", "u1"):
        for perf in ("p3", "p1", "p2"):
            noise(root / singer / f"{singer}{perf}.wav")
    fake(root / "notes.txt")
    items = by_id(LAYOUTS["damp"].scan(root))
    assert items["u1/u1p1"] == {"singer": "u1", "song": "", "performance": "u1p1",
                                "recording_index": 0}
    assert [items[f"u2/u2p{k}"]["recording_index"] for k in (1, 2, 3)] == [0, 1, 2]


def test_damp_metadata_csv(tmp_path):
    root = tmp_path / "damp"
    for perf in ("a", "b", "c"):
        noise(root / "audio" / f"{perf}.wav")
    (root / "perfs.csv").write_text("perf_key,account_id,song_name\n"
                                    "a,111,Let It Go\nb,111,Hello\nc,222,Hello\n")
    items = by_id(LAYOUTS["damp"].scan(root))
    assert items == {
        "audio/a": {"singer": "111", "song": "Let It Go", "performance": "a",
                    "recording_index": 0},
        "audio/b": {"singer": "111", "song": "Hello", "performance": "b", "recording_index": 1},
        "audio/c": {"singer": "222", "song": "Hello", "performance": "c", "recording_index": 0},
    }
    with pytest.raises(InputError, match="no column 'who'"):
        get_layout("damp", ["singer_column=who"]).scan(root)


def test_damp_balanced_song_index(tmp_path):
    root = tmp_path / "dampb"
    rows = [("x1", "s1", "one call away"), ("x2", "s1", "Say You Won`t Let Go - James Arthur"),
            ("x3", "s2", "14"), ("x4", "s2", "not a listed song")]
    for perf, _, _ in rows:
        noise(root / "audio" / f"{perf}.wav")
    with open(root / "metadata.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["performance", "user_id", "song"])
        writer.writerows(rows)
    report = LAYOUTS["damp-balanced"].scan_report(root)
    assert {i.item_id: i.fields["song_index"] for i in report.items} == {
        "audio/x1": 1, "audio/x2": 2, "audio/x3": 14}
    assert [s.path for s in report.skipped] == ["audio/x4.wav"]
    # without metadata: <song>/<singer>/<performance>
    folders = tmp_path / "folders"
    noise(folders / "chandelier" / "s9" / "k.wav")
    item, = get_layout("damp-balanced", ["metadata="]).scan(folders)
    assert dict(item.fields) == {"singer": "s9", "song": "chandelier", "performance": "k",
                                 "song_index": 13, "recording_index": 0}


# -- instruments ---------------------------------------------------------------------------------

def test_instrument_names_map_onto_the_19_classes():
    assert len(S4_CLASSES) == 19
    assert all(instrument_class(c) == c for c in S4_CLASSES)
    assert {n: instrument_class(n) for n in (
        "double bass", "contrabassoon", "cor anglais", "Bass", "BbClar", "EbClarinet",
        "BassClarinet", "Horn", "AltoSax", "TenorTrombone", "BassTrombone", "Bb Trumpet",
        "AltoFlute", "Piano", "percussion")} == {
        "double bass": "double-bass", "contrabassoon": "contra-bassoon",
        "cor anglais": "cor-anglais", "Bass": "double-bass", "BbClar": "clarinet",
        "EbClarinet": "clarinet", "BassClarinet": "bass-clarinet", "Horn": "french-horn",
        "AltoSax": "saxophone", "TenorTrombone": "trombone", "BassTrombone": "trombone",
        "Bb Trumpet": "trumpet", "AltoFlute": "flute", "Piano": None, "percussion": None}
    assert instrument_class("AltoFlute", flute_family=False) is None


def test_lpo_and_iowa_name_parsing():
    assert parse_lpo_name("violin_A4_1_forte_arco-normal") == {
        "source_instrument": "violin", "note": "A4", "length": "1", "dynamic": "forte",
        "articulation": "arco-normal"}
    assert parse_lpo_name("guitar_Cs3_very-long_piano_harmonics")["note"] == "Cs3"
    assert parse_iowa_name("Violin.arco.ff.sulG.A4.stereo") == {
        "source_instrument": "Violin", "articulation": "arco", "vibrato": "", "dynamic": "ff",
        "string": "sulG", "note": "A4", "channels": "stereo", "other": ""}
    assert parse_iowa_name("Flute.nonvib.ff.A4.stereo")["vibrato"] == "nonvib"
    assert parse_iowa_name("AltoSax.NoVib.mf.C4B4") == {
        "source_instrument": "AltoSax", "articulation": "", "vibrato": "nonvib", "dynamic": "mf",
        "string": "", "note": "C4B4", "channels": "", "other": ""}


def instrument_tree(root: Path) -> Path:
    lpo = root / "philharmonia"
    fake(lpo / "violin/violin_A4_1_forte_arco-normal.mp3")
    fake(lpo / "double bass/double-bass_E1_phrase_mezzo-forte_pizz-normal.mp3")
    fake(lpo / "contrabassoon/contrabassoon_A1_05_piano_normal.mp3")
    fake(lpo / "percussion/agogo-bells__long_forte_struck-singly.mp3")
    iowa = root / "iowa"
    noise(iowa / "Violin/Violin.arco.ff.sulG.A4.stereo.aif")
    noise(iowa / "Flute.nonvib.ff.A4.stereo.aiff")
    noise(iowa / "Horn.ff.C4B4.aiff")
    noise(iowa / "Piano.ff.C4.aiff")
    return root


def test_lpo_tree(tmp_path):
    root = instrument_tree(tmp_path)
    report = LAYOUTS["lpo"].scan_report(root / "philharmonia")
    items = by_id(report.items)
    assert {k: v["instrument"] for k, v in items.items()} == {
        "violin/violin_A4_1_forte_arco-normal": "violin",
        "double bass/double-bass_E1_phrase_mezzo-forte_pizz-normal": "double-bass",
        "contrabassoon/contrabassoon_A1_05_piano_normal": "contra-bassoon"}
    assert items["violin/violin_A4_1_forte_arco-normal"] == {
        "instrument": "violin", "source": "lpo", "source_instrument": "violin", "note": "A4",
        "length": "1", "dynamic": "forte", "articulation": "arco-normal"}
    assert [s.path for s in report.skipped] == [
        "percussion/agogo-bells__long_forte_struck-singly.mp3"]
    everything = get_layout("lpo", ["include_other=true"]).scan(root / "philharmonia")
    assert len(everything) == 4


def test_iowa_tree(tmp_path):
    root = instrument_tree(tmp_path)
    items = by_id(LAYOUTS["iowa"].scan(root / "iowa"))
    assert {k: v["instrument"] for k, v in items.items()} == {
        "Violin/Violin.arco.ff.sulG.A4.stereo": "violin",
        "Flute.nonvib.ff.A4.stereo": "flute", "Horn.ff.C4B4": "french-horn"}
    assert items["Horn.ff.C4B4"]["note"] == "C4B4"


def test_s4_combined_tree(tmp_path):
    root = instrument_tree(tmp_path)
    items = by_id(LAYOUTS["s4-instruments"].scan(root))
    assert len(items) == 6
    assert {v["source"] for v in items.values()} == {"lpo", "iowa"}
    assert all(v["instrument"] in S4_CLASSES for v in items.values())
    fields = LAYOUTS["s4-instruments"].field_names
    assert all(set(v) == set(fields) for v in items.values())
    assert items["iowa/Horn.ff.C4B4"]["length"] == ""


# -- GTSinger demo -------------------------------------------------------------------------------

def test_gtsinger_miniature(tmp_path):
    root = tmp_path / "gts"
    noise(root / "audio/EN-Alto-1/song01_control.flac")
    noise(root / "audio/EN-Alto-1/song01_breathy.flac")
    (root / "metadata.csv").write_text(
        "path,singer,language,voice_part,song_id,song,take,technique_group,style,duration_s,"
        "source_file\n"
        "audio/EN-Alto-1/song01_control.flac,EN-Alto-1,EN,Alto,song01,X,Control,Breathy,"
        "\"slow, low\",1.0,a.wav\n"
        "audio/EN-Alto-1/song01_breathy.flac,EN-Alto-1,EN,Alto,song01,X,Breathy,Breathy,"
        "\"slow, low\",1.0,b.wav\n"
        "audio/EN-Alto-1/song02_control.flac,EN-Alto-1,EN,Alto,song02,Y,Control,Breathy,"
        ",1.0,c.wav\n")
    report = LAYOUTS["gtsinger-demo"].scan_report(root)
    items = by_id(report.items)
    assert items["audio/EN-Alto-1/song01_control"] == {
        "singer": "EN-Alto-1", "language": "EN", "voice_part": "Alto", "song_id": "song01",
        "song": "X", "take": "Control", "technique_group": "Breathy", "style": "slow, low",
        "duration_s": "1.0", "source_file": "a.wav", "song_key": "EN-Alto-1/song01"}
    assert [s.path for s in report.skipped] == ["audio/EN-Alto-1/song02_control.flac"]


def test_gtsinger_shared_pack():
    root = shared_data("gtsinger-demo")
    items = LAYOUTS["gtsinger-demo"].scan(root)
    assert len(items) == 119
    assert len({i.fields["singer"] for i in items}) == 20
    assert all(i.audio_path.is_file() for i in items)


# -- item lists and the CLI ----------------------------------------------------------------------

def test_item_list_round_trips(tmp_path):
    root = vocalset_tree(tmp_path / "VocalSet")
    items = LAYOUTS["vocalset"].scan(root)
    for name in ("items.csv", "items.jsonl", "items.jsonl.gz"):
        out = tmp_path / "lists" / name
        write_items(items, out, field_names=LAYOUTS["vocalset"].field_names)
        back = read_items(out)
        assert [i.item_id for i in back] == [i.item_id for i in items]
        assert [i.audio_path.resolve() for i in back] == [i.audio_path.resolve() for i in items]
        assert [{k: str(v) for k, v in i.fields.items()} for i in back] == [
            {k: str(v) for k, v in i.fields.items()} for i in items]


def test_cli_scan_writes_csv_relative_to_itself(tmp_path):
    root = vocalset_tree(tmp_path / "VocalSet")
    out = tmp_path / "lists" / "vocalset.csv"
    done = invoke_cli("dataset", "scan", "vocalset", str(root), "-o", str(out),
                   "--option", "techniques=s3")
    assert done.returncode == 0, done.stderr
    assert "vocalset: 7 items, 3 files skipped" in done.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[:4] == ["path", "item_id", "singer", "gender"]
    assert all((out.parent / r["path"]).is_file() for r in rows)
    assert rows[0]["path"].startswith("../VocalSet/FULL/")


def test_cli_layouts_and_errors(tmp_path):
    listed = invoke_cli("dataset", "layouts", "--json")
    assert listed.returncode == 0
    names = [json.loads(line)["name"] for line in listed.stdout.splitlines()]
    assert names == list(LAYOUTS)
    bad = invoke_cli("dataset", "scan", "artist21", str(tmp_path))
    assert bad.returncode == 1
    assert "did you mean 'artist20'" in bad.stderr
