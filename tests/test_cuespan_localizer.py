"""The CueSpan localizer (serving path), its calibration and the pipeline's "cuespan" method."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vcval.corpus.encodings import content_words, encode_units, lexical_overlap, question_weights, word_idf
from vcval.localization.base import Candidate
from vcval.localization.confidence import Calibrator, expected_calibration_error, reliability_table
from vcval.localization.cuespan import (
    CONFIDENCE_FEATURES,
    CueSpanInference,
    CueSpanLocalizer,
    _top_spans,
    key_unit,
)
from vcval.localization.meta_discourse import meta_mask
from vcval.models.cuespan import CueSpanConfig, CueSpanModel
from vcval.models.cuespan.inputs import Row, build_batch
from vcval.types import Cue, VideoRecord

VOCAB = ["sling", "arm", "burn", "water", "finger", "tape", "layer", "panel"]


class ToyEncoder:
    """Bag-of-words over VOCAB, L2-normalised: encode(texts) -> (N, 8)."""

    name = "toy"
    dim = len(VOCAB)

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for j, w in enumerate(VOCAB):
                out[i, j] = t.lower().count(w)
            out[i] /= max(1e-6, float(np.linalg.norm(out[i])))
        return out


def cues(texts: list[str], step: float = 3.0) -> list[Cue]:
    return [Cue(i, i * step, (i + 1) * step, t) for i, t in enumerate(texts)]


SLING = cues(["Hello and welcome.", "Take the sling", "and put it under the arm.", "Tie the sling at the neck.",
              "Thanks for watching."])
BURN = cues(["Cool the burn under running water.", "Keep the water running for twenty minutes.", "Cover it."])


def tiny_model(seed: int = 0) -> CueSpanModel:
    torch.manual_seed(seed)
    return CueSpanModel(CueSpanConfig(emb_dim=len(VOCAB), hidden=16, ff_dim=32, head_size=8, n_heads=2,
                                      max_span_cues=4)).eval()


def candidate(vid: str, cue_list: list[Cue], units=None) -> Candidate:
    rec = VideoRecord(vid, vid.title(), cue_list[-1].end, "test", "transcript", f"hash-{vid}", len(cue_list))
    return Candidate(rec, cue_list, None, 1.0, units=units)


def test_lexical_overlap_weighs_rare_words_and_unseen_words_most():
    units = [frozenset({"sling", "arm"}), frozenset({"arm"}), frozenset()]
    idf = word_idf(units)
    lex = lexical_overlap(question_weights(content_words("sling for the arm"), idf), units)
    assert lex[0] == pytest.approx(1.0) and 0 < lex[1] < 0.5 and lex[2] == 0
    unseen = lexical_overlap(question_weights(content_words("tourniquet arm"), idf), units)
    assert unseen[1] < 0.5  # the unseen word weighs the largest idf


def test_build_batch_pads_crops_and_keeps_the_target_cell():
    enc = encode_units(SLING, ToyEncoder())
    q = ToyEncoder().encode(["sling"])[0]
    rows = [Row(q, enc, np.zeros(len(enc), np.float32), (2, 3), 0), Row(q, encode_units(BURN, ToyEncoder()),
                                                                       np.zeros(3, np.float32), None, 0)]
    kwargs, offsets = build_batch(rows, crop=2)
    n = kwargs["cues"].shape[1]
    assert n == 2 and kwargs["cue_mask"].sum() == 4
    i, j = divmod(int(kwargs["labels"][0]), n)
    assert (i + offsets[0], j + offsets[0]) == (2, 3) and kwargs["labels"][1] == -100


def test_top_spans_are_non_overlapping_best_first():
    band = np.full((4, 3), -np.inf)
    band[0, 2], band[1, 0], band[3, 0], band[2, 1] = 5.0, 4.0, 3.0, 2.0  # [0,2] [1,1] [3,3] [2,3]
    assert _top_spans(band, 3) == [(0, 2, 5.0), (3, 3, 3.0)]


def test_expected_iou_decoding_plays_the_span_most_of_the_mass_agrees_on():
    # 4 units of 10 s; three spans from unit 0 hold all the mass: [0,10] 0.4, [0,30] 0.3, [0,40] 0.3.
    # Expected IoU: [0,10] 0.575, [0,30] 0.658, [0,40] 0.625, so the 30 s span wins where argmax takes 10 s.
    band = np.full((4, 4), -np.inf)
    band[0, 0], band[0, 2], band[0, 3] = np.log([0.4, 0.3, 0.3])
    start, end = np.arange(4) * 10.0, np.arange(1, 5) * 10.0
    argmax = CueSpanLocalizer(tiny_model(), ToyEncoder(), inference=CueSpanInference(spans_per_video=1))
    assert argmax.pick_spans(band, start, end) == [(0, 0, pytest.approx(np.log(0.4)))]
    mbr = CueSpanLocalizer(tiny_model(), ToyEncoder(), inference=CueSpanInference(decode="expected_iou"))
    picked = mbr.pick_spans(band, start, end)
    assert picked[0][:2] == (0, 2)
    assert picked[0][2] == pytest.approx(np.log(0.4))  # the video's best score: videos rank as with argmax
    assert len(picked) == 1  # every other candidate overlaps the first
    cold = CueSpanLocalizer(tiny_model(), ToyEncoder(),
                            inference=CueSpanInference(decode="expected_iou", decode_temperature=0.05))
    assert cold.pick_spans(band, start, end)[0][:2] == (0, 0)  # near-zero temperature: the argmax again
    with pytest.raises(ValueError, match="unknown decode 'beam' in the checkpoint's inference.json"):
        CueSpanLocalizer(tiny_model(), ToyEncoder(), inference=CueSpanInference(decode="beam"))  # refused at load


def test_expected_iou_decoding_serves_non_overlapping_ranked_answers():
    enc = ToyEncoder()
    loc = CueSpanLocalizer(tiny_model(), enc, inference=CueSpanInference(decode="expected_iou"))
    answers = loc.localize("how do I put on a sling?", [candidate("sling", SLING), candidate("burn", BURN)], top_n=6)
    assert answers
    assert [a.score for a in answers] == sorted((a.score for a in answers), reverse=True)
    for vid in {a.video_id for a in answers}:
        spans = sorted((a.start, a.end) for a in answers if a.video_id == vid)
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:]))


def test_localize_answers_on_unit_boundaries_with_original_cues():
    enc = ToyEncoder()
    loc = CueSpanLocalizer(tiny_model(), enc)
    answers = loc.localize("how do I put on a sling?", [candidate("sling", SLING), candidate("burn", BURN)], top_n=4)
    assert answers and len(answers) <= 4
    units = {v: encode_units(c, enc) for v, c in (("sling", SLING), ("burn", BURN))}
    for a in answers:
        u = units[a.video_id]
        assert a.start in [x.start for x in u.units] and a.end in [x.end for x in u.units]
        assert a.cues and a.cues[0].start == a.start and a.cues[-1].end == a.end  # original cues of the span
        assert a.confidence is None and a.confident is None  # no calibration shipped
        # the key sentence is one unit of the span: the one whose own vector is closest to the question
        first = next(i for i, x in enumerate(u.units) if x.start == a.start)
        last = next(i for i, x in enumerate(u.units) if x.end == a.end)
        q = np.asarray(enc.encode(["how do I put on a sling?"]), np.float32)[0]
        key = u.units[first + int(np.argmax(u.vectors[first: last + 1] @ q))]
        assert (a.key_start, a.key_end) == (key.start, key.end)
    assert [a.score for a in answers] == sorted((a.score for a in answers), reverse=True)


def test_localize_uses_stored_units_and_encodes_only_the_question():
    enc = ToyEncoder()
    stored = encode_units(SLING, enc)
    enc.calls = 0
    loc = CueSpanLocalizer(tiny_model(), enc, idf=lambda: word_idf(stored.words))
    loc.localize("sling", [candidate("sling", SLING, units=stored)])
    assert enc.calls == 1


def test_calibrated_confidence_and_threshold():
    enc = ToyEncoder()
    cal = Calibrator(list(CONFIDENCE_FEATURES), [0.0] * 7, [1.0] * 7, [0, 0, 0, 5.0, 0, 0, 0], -2.0)
    inf = CueSpanInference(threshold=0.5, calibration=cal.to_dict())
    loc = CueSpanLocalizer(tiny_model(), enc, inference=inf)
    good = loc.localize("sling arm", [candidate("sling", SLING)], top_n=1)[0]
    bad = loc.localize("finger tape", [candidate("sling", SLING)], top_n=1)[0]  # no word in the video: cos 0
    assert 0 <= bad.confidence < 0.5 <= good.confidence <= 1
    assert good.confident is True and bad.confident is False
    assert good.to_dict()["confident"] is True and isinstance(good.to_dict()["confidence"], float)
    assert good.video_confidence is None and good.to_dict()["video_confidence"] is None  # not calibrated for it
    # a video calibration: its own probability, never below the span's (a right span implies a right video)
    video = Calibrator(list(CONFIDENCE_FEATURES), [0.0] * 7, [1.0] * 7, [0, 0, 0, 1.0, 0, 0, 0], 3.0)
    low = Calibrator(list(CONFIDENCE_FEATURES), [0.0] * 7, [1.0] * 7, [0] * 7, -9.0)
    for cal_video, above in ((video, True), (low, False)):
        loc = CueSpanLocalizer(tiny_model(), enc, inference=CueSpanInference(
            threshold=0.5, calibration=cal.to_dict(), video_calibration=cal_video.to_dict()))
        for a in (loc.localize(q, [candidate("sling", SLING)], top_n=1)[0] for q in ("sling arm", "finger tape")):
            assert a.confidence <= a.video_confidence <= 1
            if above:
                assert a.video_confidence > 0.9 and a.video_confidence > a.confidence
            else:
                assert a.video_confidence == a.confidence


def test_calibrator_fit_is_calibrated_on_its_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    p_true = 1 / (1 + np.exp(-(1.5 * x[:, 0] - 0.5)))
    y = (rng.random(4000) < p_true).astype(float)
    cal = Calibrator.fit(x, y, ["a", "b"], l2=0.1)
    p = cal.predict(x)
    assert abs(cal.coef[0] / cal.scale[0] - 1.5) < 0.2 and abs(cal.coef[1]) < 0.1
    assert expected_calibration_error(p, y) < 0.03
    table = reliability_table(p, y)
    assert sum(r["n"] for r in table) == 4000
    assert Calibrator.from_dict(json.loads(json.dumps(cal.to_dict()))).predict(x[:3]) == pytest.approx(p[:3])


def test_pipeline_cuespan_method_from_a_checkpoint_folder(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    from vcval.corpus import Corpus
    from vcval.pipeline import build_pipeline, checkpoint_kind

    model = tiny_model()
    ck = tmp_path / "ck"
    ck.mkdir()
    model.config.to_json(ck / "config.json")
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()}, str(ck / "model.safetensors"))
    CueSpanInference(retriever="bm25", lead_in_s=1.5).to_json(ck / "inference.json")
    assert checkpoint_kind(ck) == "cuespan"
    enc = ToyEncoder()
    src = tmp_path / "src"
    src.mkdir()
    for name, cl in (("sling", SLING), ("burn", BURN)):
        (src / f"{name}.json").write_text(json.dumps([{"start": c.start, "duration": c.end - c.start, "text": c.text}
                                                     for c in cl]))
    corpus = Corpus.open(tmp_path / "corpus", text_encoder=enc)
    corpus.add_transcripts(sorted(src.glob("*.json")), progress=False)
    qa = build_pipeline(corpus, "default", checkpoint=ck, encoder=enc)
    assert qa.config.lead_in_s == 1.5
    answers = qa.ask("how do I tie a sling on the arm", k=3)
    assert answers and answers[0].video_id in {"sling", "burn"}
    assert qa.clip_start(answers[0]) == max(0.0, answers[0].start - 1.5)
    assert (tmp_path / "corpus" / "encodings" / "sling.npz").is_file()  # stored at ingest, read at ask time


def test_length_target_scales_with_video_duration_and_tilts_towards_it():
    inf = CueSpanInference(source_length_median_s=30.0, length_log_sigma=0.5, target_length_median_s=50.0,
                           target_length_exponent=0.5, target_reference_duration_s=400.0)
    loc = CueSpanLocalizer(tiny_model(), ToyEncoder(), inference=inf)
    assert loc.target_length(np.array([400.0, 100.0, 1600.0])) == pytest.approx([50.0, 25.0, 100.0])
    start = np.array([[0.0, 10.0, 20.0, 30.0, 40.0]])  # (B=1, N=5) units of 10 s
    end = start + 10.0
    shift = loc.length_shift(start, end, np.array([400.0]), 5)  # (1, 5, 5): span [i, i + o], o + 1 units
    assert shift.shape == (1, 5, 5)
    assert shift[0, 0, 4] > shift[0, 0, 2] > shift[0, 0, 0]  # target 50 s > source 30 s: longer spans gain
    shift_short = loc.length_shift(start, end, np.array([25.0]), 5)  # target 12.5 s < 30 s: shorter spans gain
    assert shift_short[0, 0, 0] > shift_short[0, 0, 2]
    fixed = CueSpanLocalizer(tiny_model(), ToyEncoder(), inference=CueSpanInference(target_length_median_s=50.0))
    assert fixed.target_length(np.array([100.0, 1000.0])) == pytest.approx([50.0, 50.0])  # exponent 0: fixed
    assert CueSpanLocalizer(tiny_model(), ToyEncoder()).length_shift(start, end, np.array([400.0]), 5) == 0.0


def test_raw_cue_units_ablation_scores_every_cue_as_a_unit():
    enc = ToyEncoder()
    merged = encode_units(SLING, enc)
    raw = encode_units(SLING, enc, merge=False)
    assert len(raw) == len(SLING) > len(merged)  # "Take the sling" + "and put it under the arm." merge
    assert raw.first_cue.tolist() == raw.last_cue.tolist() == list(range(len(SLING)))
    loc = CueSpanLocalizer(tiny_model(), enc, sentence_units=False)
    cand = candidate("sling", SLING, units=merged)  # stored sentence units are ignored by the ablation
    assert len(loc.units_of(cand)) == len(SLING)
    assert len(CueSpanLocalizer(tiny_model(), enc).units_of(cand)) == len(merged)


def test_skip_first_units_keeps_spans_off_the_introduction():
    enc = ToyEncoder()
    loc = CueSpanLocalizer(tiny_model(), enc, inference=CueSpanInference(skip_first_units=1))
    allowed = loc.start_allowed(np.array([[True, True, True], [True, False, False]]))  # (B=2, N=3) -> (2, 3, 1)
    assert allowed.shape == (2, 3, 1)
    assert not allowed[0, 0].any() and allowed[0, 1:].all()  # 3 units: no span starts on the first
    assert allowed[1].all()  # a one-unit video keeps its only unit
    answers = loc.localize("put on a sling", [candidate("sling", SLING)], top_n=3)
    first = encode_units(SLING, enc).units[0].start
    assert answers and all(a.start > first for a in answers)
    plain = CueSpanLocalizer(tiny_model(), enc)
    assert plain.start_allowed(np.ones((1, 3), bool)).all()


def test_key_unit_is_the_closest_unit_inside_the_span():
    vectors = np.eye(4, dtype=np.float32)  # unit i points along axis i
    q = np.array([0.9, 0.0, 0.3, 0.1], np.float32)
    assert key_unit(vectors, q, 0, 3) == 0
    assert key_unit(vectors, q, 1, 3) == 2  # only inside first..last
    assert key_unit(vectors, q, 3, 3) == 3


def test_a_checkpoint_with_several_members_is_served_as_their_score_average(tmp_path):
    from safetensors.torch import save_file

    from vcval.models.cuespan import CueSpanEnsemble, load_cuespan, member_files

    members = [tiny_model(seed) for seed in (0, 1, 2)]
    ck = tmp_path / "ck"
    ck.mkdir()
    members[0].config.to_json(ck / "config.json")
    for name, m in zip(("model.safetensors", "model-2.safetensors", "model-10.safetensors"), members):
        save_file({k: v.half().contiguous() for k, v in m.state_dict().items()}, str(ck / name))
    (ck / "model-notes.safetensors").write_bytes(b"")  # not a member: its suffix is not a number
    assert [p.name for p in member_files(ck)] == ["model.safetensors", "model-2.safetensors", "model-10.safetensors"]
    model = load_cuespan(ck)
    assert isinstance(model, CueSpanEnsemble) and len(model.members) == 3
    enc = ToyEncoder()
    q = enc.encode(["tie the sling"])[0]
    rows = [Row(q, encode_units(c, enc), np.zeros(len(c), np.float32)) for c in (SLING, BURN)]
    kwargs, _ = build_batch(rows)
    kwargs.pop("labels"), kwargs.pop("groups")
    with torch.inference_mode():
        out = model.eval()(**kwargs, return_full=False)
        bands = [m(**kwargs, return_full=False).band for m in model.members]
    valid = out.valid
    assert torch.allclose(out.band[valid], torch.stack(bands).mean(0)[valid], atol=1e-5)
    assert not torch.allclose(bands[0][valid], bands[1][valid])  # the members differ: the mean is not any one
    loc = CueSpanLocalizer.from_pretrained(ck, encoder=enc)
    assert isinstance(loc.model, CueSpanEnsemble)
    assert loc.localize("tie the sling", [candidate("sling", SLING), candidate("burn", BURN)])
    (ck / "model-2.safetensors").unlink(), (ck / "model-10.safetensors").unlink()
    assert not isinstance(load_cuespan(ck), CueSpanEnsemble)  # one file: a plain model
    with pytest.raises(ValueError, match="for inference"):
        model(**build_batch([Row(q, encode_units(SLING, enc), np.zeros(len(SLING), np.float32), (1, 2), 0)])[0])


def test_video_mass_weight_ranks_videos_by_their_span_mass():
    """w = 0: videos by their best span; w = 1: by their span mass (the model's video probability), so a video
    where many spans answer beats one with a single higher peak; the spans of one video keep their order."""
    enc = ToyEncoder()

    def band_scores(arrays):  # video 0 ("sling"): one span at 3.0; video 1 ("burn"): every span at 2.5
        mask = arrays["cue_mask"]  # (B, N)
        b, n = mask.shape
        w = 4
        ends = np.arange(n)[:, None] + np.arange(w)[None]  # (N, W)
        lengths = mask.sum(1)  # (B,)
        valid = mask[:, :, None] & (ends[None] < lengths[:, None, None])  # (B, N, W)
        band = np.full((b, n, w), -10.0, np.float32)
        band[0, 1, 0] = 3.0
        band[1] = np.where(valid[1], 2.5, -10.0)
        return band, valid

    order = {}
    for weight in (0.0, 1.0):
        loc = CueSpanLocalizer(tiny_model(), enc, inference=CueSpanInference(video_mass_weight=weight))
        loc.band_scores = band_scores
        spans = loc.score("sling", [candidate("sling", SLING), candidate("burn", BURN)])
        order[weight] = [sp.candidate for sp in spans]
        for video in (0, 1):  # inside a video: best span first, whatever the weight
            mine = [sp.score for sp in spans if sp.candidate == video]
            assert mine == sorted(mine, reverse=True)
        assert all(sp.video_mass >= 0 for sp in spans)
    assert order[0.0][0] == 0  # the single 3.0 peak
    assert order[1.0][0] == 1  # six spans at 2.5: log(6) + 2.5 > 3.0


def test_within_video_idf_discounts_the_videos_topic_word():
    """lexical_video_idf: a question word on every unit of the video ("sling" in a sling video) says which video,
    not where in it; a word on one unit keeps its weight."""
    from vcval.corpus.encodings import video_word_factors

    words = [frozenset({"sling", "bandage"}), frozenset({"sling"}), frozenset({"sling", "knot"})]
    f = video_word_factors({"sling", "knot", "pin"}, words)
    assert f["sling"] == pytest.approx(0.0) and f["pin"] == pytest.approx(1.0) and 0 < f["knot"] < 1
    weights = {"sling": 2.0, "knot": 1.0}
    plain = lexical_overlap(weights, words)
    within = lexical_overlap(weights, words, within_video=True)
    assert plain[1] > 0.5 and within[1] == pytest.approx(0.0)  # "sling" alone no longer counts
    assert within[2] == pytest.approx(1.0) and within[0] == pytest.approx(0.0)
    assert video_word_factors({"x"}, []) == {"x": 1.0}


def test_serving_reads_lexical_video_idf_from_the_model_config(monkeypatch):
    import vcval.localization.cuespan as served

    seen: list[bool] = []
    real = served.lexical_overlap

    def spy(weights, unit_words, *, within_video=False):
        seen.append(within_video)
        return real(weights, unit_words, within_video=within_video)

    monkeypatch.setattr(served, "lexical_overlap", spy)
    for flag in (False, True):
        model = tiny_model()
        model.config.lexical_video_idf = flag
        CueSpanLocalizer(model, ToyEncoder()).localize("sling", [candidate("sling", SLING)], top_n=1)
    assert seen == [False, True]


@pytest.mark.parametrize("question, form", [
    ("How do I put on a sling for a broken arm?", "procedure"),
    ("How should I cover a burn after cooling it?", "procedure"),
    ("Can I align images in different layers?", "procedure"),  # ability: asks how
    ("Is there a way to preview a filter?", "procedure"),
    ("When I'm done with an image, how do I save it?", "procedure"),
    ("Where should the knot of an arm sling go?", "fact"),
    ("How long should I pinch my nose?", "fact"),
    ("How fast and how deep should CPR compressions be?", "fact"),
    ("Should I tilt my head back when my nose is bleeding?", "fact"),
    ("2.  where do i change the text size?", "fact"),  # numbered like some TutorialVQA questions
    ("Q) which layer is the filter applied to?", "fact"),
    ("What should I do first when someone collapses?", "open"),
    ("Sometimes where", "open"),  # "so" is only stripped as a whole word
    ("???", "open"),
])
def test_question_form_tells_procedure_from_fact_questions(question, form):
    from vcval.localization.question_form import question_form

    assert question_form(question) == form


def test_fact_questions_get_spans_of_at_most_fact_max_units():
    enc = ToyEncoder()
    capped = CueSpanLocalizer(tiny_model(), enc, inference=CueSpanInference(fact_max_units=1))
    plain = CueSpanLocalizer(tiny_model(), enc)
    assert capped.length_allowed("Where do I tie the sling?", 4).tolist() == [[[True, False, False, False]]]
    assert capped.length_allowed("How do I put on a sling?", 4).all()
    assert plain.length_allowed("Where do I tie the sling?", 4).all()  # 0: off
    units = encode_units(SLING, enc).units
    one_unit = {(u.start, u.end) for u in units}
    cands = [candidate("sling", SLING), candidate("burn", BURN)]
    fact = capped.localize("Where do I tie the sling?", cands, top_n=6)
    assert fact and all((a.start, a.end) in one_unit for a in fact if a.video_id == "sling")
    unc = plain.localize("Where do I tie the sling?", cands, top_n=6)
    assert any((a.start, a.end) not in one_unit for a in unc)
    best = {}  # the cap changes what is played inside a video, not how videos rank
    for a in unc:
        best.setdefault(a.video_id, a.score)
    assert [a.video_id for a in fact][:1] == [a.video_id for a in unc][:1]
    assert {a.video_id: a.score for a in reversed(fact)} == pytest.approx(best)
    procedure = "How do I put on a sling?"  # procedure questions keep the model's spans
    assert [(a.video_id, a.start, a.end) for a in capped.localize(procedure, cands, top_n=6)] == \
        [(a.video_id, a.start, a.end) for a in plain.localize(procedure, cands, top_n=6)]


@pytest.mark.parametrize("question, step", [
    ("How to perform wrist extensions to fix wrist pain?", "How to perform wrist extensions?"),
    ("How should you stretch the median nerve to relieve arm pain?", "How should you stretch the median nerve?"),
    ("How do I use ear plugs in order to protect my hearing?", "How do I use ear plugs?"),
    ("how can i add a layer mask to hide the edges of a layer?", "how can i add a layer mask?"),
    ("How do I tape a sprained finger to the one next to it?", None),  # "to the": a place, not a purpose
    ("How are you able to line up grid edges?", None),  # "able to" belongs to the opening
    ("How to get rid of tartar?", None),  # the opening's own "to"
    ("How do I add text to images?", None),  # a one-word goal: "to" before a bare noun, kept whole
    ("How do I do it to stop the pain?", None),  # a step without content words: too little to place by
    ("Where should I go to get help?", None),  # only "how" questions ask for a step
])
def test_step_of_splits_a_purpose_clause_off_a_how_question(question, step):
    from vcval.localization.question_form import step_of

    assert step_of(question) == step


def test_goal_split_places_spans_by_the_step_and_ranks_videos_by_the_whole_question():
    enc = ToyEncoder()
    split = CueSpanLocalizer(tiny_model(3), enc, inference=CueSpanInference(goal_split=True))
    plain = CueSpanLocalizer(tiny_model(3), enc)
    cands = [candidate("sling", SLING), candidate("burn", BURN)]
    question, step = "How do I tie the sling to cool a burn with water?", "How do I tie the sling?"

    def per_video(answers) -> dict[str, list[tuple[float, float]]]:
        out: dict[str, list[tuple[float, float]]] = {}
        for a in answers:
            out.setdefault(a.video_id, []).append((a.start, a.end))
        return out

    def best(answers) -> dict[str, float]:
        return {a.video_id: a.score for a in reversed(answers)}

    whole, by_step, served = (plain.localize(question, cands, top_n=6), plain.localize(step, cands, top_n=6),
                              split.localize(question, cands, top_n=6))
    assert per_video(whole) != per_video(by_step)  # the toy model places the two questions differently
    assert per_video(served) == per_video(by_step)
    assert best(served) == pytest.approx(best(whole))  # each video keeps the whole question's best score
    no_goal = "How do I tie the sling?"  # without a purpose clause nothing changes
    assert [(a.video_id, a.start, a.end, a.score) for a in split.localize(no_goal, cands, top_n=6)] == \
        [(a.video_id, a.start, a.end, a.score) for a in plain.localize(no_goal, cands, top_n=6)]


def test_the_shipped_default_plays_a_fact_question_at_most_two_sentences(tmp_path):
    """The shipped checkpoint (its inference.json sets fact_max_units) over the demo subtitles: a fact question's
    answers span at most 2 sentence units and its video is found; a procedure question keeps a longer answer."""
    from pathlib import Path

    from vcval.corpus import Corpus
    from vcval.pipeline import build_pipeline

    demo = Path(__file__).resolve().parents[1] / "assets" / "demo"
    corpus = Corpus.open(tmp_path / "corpus")
    for name in ("pendulum-shoulder", "recovery-position", "minor-burn"):
        corpus.add_transcript(demo / f"{name}.srt", video_id=name, title=name.replace("-", " "))
    qa = build_pipeline(corpus, "default", device="cpu")
    assert qa.localizer.inference.fact_max_units == 2

    def n_units(answer) -> int:
        units = corpus.unit_encodings(answer.video_id).units
        return sum(answer.start <= u.start and u.end <= answer.end for u in units)

    fact = qa.ask("How often should I do pendulum exercises?", k=3)
    assert fact[0].video_id == "pendulum-shoulder"
    assert all(1 <= n_units(a) <= 2 for a in fact)
    procedure = qa.ask("How do I roll an unconscious person onto their side?", k=1)[0]
    assert procedure.video_id == "recovery-position" and n_units(procedure) > 2


def test_served_video_confidence_is_one_number_per_video():
    from vcval.localization.confidence import served_video_confidence

    video = np.array([0.72, 0.40, 0.69, 0.85])  # the video calibrator per answer, best answer first
    span = np.array([0.25, 0.10, 0.06, 0.90])
    ids = ["cpr", "burn", "cpr", "cpr"]
    assert served_video_confidence(video, span).tolist() == [0.72, 0.40, 0.69, 0.90]  # per answer, as fitted
    served = served_video_confidence(video, span, ids)
    # each video reads the value at its best-ranked answer, raised to its highest span confidence
    assert served.tolist() == [0.90, 0.40, 0.90, 0.90]
    assert (served >= span).all()
    assert served_video_confidence(video[:3], span[:3], ids[:3]).tolist() == [0.72, 0.40, 0.72]


def test_the_shipped_default_gives_all_answers_of_one_video_the_same_video_confidence(tmp_path):
    """Several answers from one video must not read different chances that the video is right."""
    from pathlib import Path

    from vcval.corpus import Corpus
    from vcval.pipeline import build_pipeline

    demo = Path(__file__).resolve().parents[1] / "assets" / "demo"
    corpus = Corpus.open(tmp_path / "corpus")
    for name in ("hands-only-cpr", "nosebleed"):
        corpus.add_transcript(demo / f"{name}.srt", video_id=name, title=name.replace("-", " "))
    qa = build_pipeline(corpus, "default", device="cpu")
    answers = qa.ask("How many compressions per minute in CPR?", k=5)
    by_video: dict[str, set[float]] = {}
    for a in answers:
        assert a.video_confidence is not None and a.confidence <= a.video_confidence
        by_video.setdefault(a.video_id, set()).add(a.video_confidence)
    assert answers[0].video_id == "hands-only-cpr" and sum(a.video_id == "hands-only-cpr" for a in answers) >= 2
    assert all(len(values) == 1 for values in by_video.values())


PROMO = cues(["Today we're going to show you how to put on a sling.", "Please subscribe to our channel.",
              "Take the sling", "and put it under the arm.", "Tie the sling at the neck.",
              "Thanks for watching the sling video."])


def test_edges_allowed_keeps_meta_units_off_both_ends():
    enc = ToyEncoder()
    units = encode_units(PROMO, enc)
    n, w = len(units), 4
    valid = np.ones((1, n, w), bool)
    meta = meta_mask(units.units)
    ok = CueSpanLocalizer.edges_allowed([meta], valid)  # (1, N, W)
    assert meta[0] and meta[1] and meta[-1] and not meta[2:-1].any()
    for i in range(n):
        for o in range(w):
            j = min(i + o, n - 1)
            assert ok[0, i, o] == (not meta[i] and not meta[j])
    only_meta = encode_units(cues(["Welcome to the channel.", "Thanks for watching."]), enc)
    flags = [meta_mask(only_meta.units)]
    assert CueSpanLocalizer.edges_allowed(flags, np.ones((1, 2, 2), bool)).all()  # nothing else to play


def test_meta_edges_serving_never_opens_or_closes_a_clip_on_meta_talk():
    enc = ToyEncoder()
    units = encode_units(PROMO, enc).units
    meta_times = {(u.start, u.end) for u, m in zip(units, meta_mask(units)) if m}
    cand = [candidate("sling", PROMO)]
    on = CueSpanLocalizer(tiny_model(), enc, inference=CueSpanInference(meta_edges=True))
    answers = on.localize("put on a sling", cand, top_n=10)
    assert answers
    for a in answers:
        first = next(u for u in units if u.start == a.start)
        last = next(u for u in units if u.end == a.end)
        assert (first.start, first.end) not in meta_times and (last.start, last.end) not in meta_times
    off = CueSpanLocalizer(tiny_model(), enc).localize("put on a sling", cand, top_n=10)
    assert any(a.start == units[0].start or a.end == units[-1].end for a in off)  # the rule is what changed it
    assert CueSpanInference().meta_edges is False  # older checkpoints are served as before
    assert len(on._meta) == 1  # the unit flags are computed once per video, not per question
    on.localize("tie the sling", cand, top_n=3)
    assert len(on._meta) == 1


def test_the_shipped_default_keeps_a_channel_plug_out_of_the_clip_edges(tmp_path):
    """The shipped checkpoint serves ``meta_edges``: a video that opens with an announcement and a channel plug
    that restate the question gets answers that neither start nor end on them."""
    from vcval.corpus import Corpus
    from vcval.pipeline import build_pipeline

    corpus = Corpus.open(tmp_path / "corpus")
    texts = ["Today we're going to show you how to use ice on a sprained ankle.",
             "If you're new to our channel, please subscribe, we post a sprained ankle video every week.",
             "Wrap a bag of ice or frozen peas in a thin towel.", "Hold it on the ankle for fifteen to twenty minutes.",
             "Never put ice straight on the skin.", "Repeat every two to three hours during the first two days.",
             "Keep the foot raised above the level of the heart.", "Thanks for watching, and see you next time."]
    srt = "\n".join(f"{i + 1}\n00:00:{4 * i:02d},000 --> 00:00:{4 * i + 3:02d},500\n{t}\n" for i, t in enumerate(texts))
    (tmp_path / "ice.srt").write_text(srt)
    corpus.add_transcript(tmp_path / "ice.srt", video_id="ice", title="ankle ice")
    qa = build_pipeline(corpus, "default", device="cpu")
    assert qa.localizer.inference.meta_edges is True
    answers = qa.ask("How do I use ice on a sprained ankle?", k=3)
    assert answers
    for a in answers:
        assert a.start >= 8.0 and a.end <= 27.5, (a.start, a.end)  # not the first two sentences nor the last
