"""``gatewatch enroll capture``: three prompted photos from a desk camera (a video of one person's
real photos stands in for it), checked against the prompt by the landmark yaw."""

from __future__ import annotations

from pathlib import Path

import pytest

from enroll.capture import DeskCamera, best_shot, prompts
from tests.conftest import FACES, needs_shared
from tests.enroll.desk import desk_video
from tests.enroll.test_enroll import enroll

pytestmark = [needs_shared]
on_server = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PERSON = ("--id", "p-obama", "--name", "奥巴马", "--role", "resident")
STRAIGHT, LEFT, RIGHT = (
    "正视镜头 / look straight",
    "头稍向左 / turn slightly left",
    "头稍向右 / turn slightly right",
)
# obama/1 faces the camera (yaw +0), obama/4 is turned to his left (+25), obama/2 to his right
# (-20): the three answers to the three prompts.
ANSWERS = [FACES / "obama/1.jpg", FACES / "obama/4.jpg", FACES / "obama/2.jpg"]


@on_server
def test_three_prompts_three_templates_and_a_reference_photo(
    server,
    http_url: str,
    tmp_path: Path,
    engine,  # noqa: ANN001
) -> None:
    video = desk_video(engine, ANSWERS, tmp_path / "desk.mp4", seconds_each=2.0)
    r = enroll(http_url, server.tokens["admin"], "capture", *PERSON, "--camera", str(video),
               "--seconds-per-prompt", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[:3] == [f"[1/3] {STRAIGHT}", f"[2/3] {LEFT}", f"[3/3] {RIGHT}"]
    assert "已登记 p-obama（3 个人脸模板：straight、left、right）；人脸库版本 1" in out
    assert "p-obama：登记照片已保存（人脸裁剪）" in out
    assert server.store.template_count("p-obama") == 3
    ref = server.store.reference("p-obama")
    assert ref is not None and (ref.width, ref.height) == (240, 240)
    assert "：未采用：" not in r.stderr  # a prompt not kept


@on_server
def test_a_segment_without_a_face_or_turned_the_wrong_way_is_left_out_with_the_reason(
    server,
    http_url: str,
    tmp_path: Path,
    engine,  # noqa: ANN001
) -> None:
    # Nobody in front of the camera when asked to turn left; facing it when asked to turn right.
    photos = [ANSWERS[0], None, ANSWERS[0]]
    video = desk_video(engine, photos, tmp_path / "desk.mp4", seconds_each=2.0)
    r = enroll(http_url, server.tokens["admin"], "capture", *PERSON, "--camera", str(video),
               "--seconds-per-prompt", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "已登记 p-obama（1 个人脸模板：straight）；人脸库版本 1" in r.stdout
    err = r.stderr.splitlines()
    left = next(line for line in err if line.startswith(LEFT))
    assert "：未采用：no usable frame in" in left and "no face found" in left
    right = next(line for line in err if line.startswith(RIGHT))
    assert "not turned as asked (yaw +0 deg, wanted -45..-10)" in right
    assert server.store.template_count("p-obama") == 1


@on_server
def test_no_usable_frame_at_all_enrolls_nobody(server, http_url: str, tmp_path: Path, engine):  # noqa: ANN001
    video = desk_video(engine, [None, None, None], tmp_path / "empty.mp4", seconds_each=1.0)
    r = enroll(http_url, server.tokens["admin"], "capture", *PERSON, "--camera", str(video),
               "--seconds-per-prompt", "1")  # fmt: skip
    assert r.returncode == 2 and "no usable photo from the camera" in r.stderr
    assert server.store.get_person("p-obama") is None


def test_each_prompt_takes_only_the_pose_it_asks_for(tmp_path: Path, engine) -> None:  # noqa: ANN001
    """Every photo shown for every prompt: only its own answer is kept."""
    straight, left, right = prompts(engine.config.quality.max_yaw_deg)
    for n, photo in enumerate(ANSWERS):
        video = desk_video(engine, [photo] * 3, tmp_path / f"{n}.mp4", seconds_each=1.0)
        camera = DeskCamera(str(video), 1.0)
        try:
            got = [best_shot(engine, p, camera.frames()) for p in (straight, left, right)]
        finally:
            camera.close()
        assert [g.shot is not None for g in got] == [i == n for i in range(3)], [
            g.reason for g in got
        ]
        kept = got[n].shot
        assert kept is not None and got[n].prompt.misfit(kept.face.quality.yaw_deg) is None
