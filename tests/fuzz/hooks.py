"""Schemathesis hooks for the fuzz run (loaded through SCHEMATHESIS_HOOKS): the fuzzer may change and delete any
account or key but the ones the run stands on, so no case can log the run out or lock the admin out; and every
receiver it makes points at a closed port here, so no webhook leaves this machine."""
import json
import os

import schemathesis

# {"user_id": {"keep": [1, 2], "decoy": 3}, ...}: a kept id in a path is replaced by the decoy's, set by the harness.
STEERING = json.loads(os.environ.get("PULSEBOARD_FUZZ_STEERING", "{}"))


LOCAL_RECEIVER = "http://127.0.0.1:9/fuzz"


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    if isinstance(case.body, dict) and isinstance(case.body.get("url"), str):
        case.body["url"] = LOCAL_RECEIVER
    for name, rule in STEERING.items():
        if str(case.path_parameters.get(name)) in map(str, rule["keep"]):
            case.path_parameters[name] = rule["decoy"]
