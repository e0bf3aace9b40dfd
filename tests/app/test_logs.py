"""JSON log lines hold what a log pipeline reads, not a terminal's colour codes (issue 19)."""

from __future__ import annotations

import logging

import orjson

from app.logs import JsonFormatter


def test_json_log_lines_leave_out_uvicorns_coloured_copy_of_the_message() -> None:
    # As uvicorn logs "Started server process [pid]", with a copy for colour terminals.
    record = logging.makeLogRecord(
        {
            "name": "uvicorn.error",
            "levelname": "INFO",
            "msg": "Started server process [%d]",
            "args": (42,),
            "color_message": "Started server process [\x1b[36m%d\x1b[0m]",
            "client_id": 7,
        }
    )
    line = orjson.loads(JsonFormatter().format(record))
    assert line["message"] == "Started server process [42]"
    assert "color_message" not in line
    assert "\x1b" not in orjson.dumps(line).decode()
    assert line["client_id"] == 7  # what code passes with extra= stays
