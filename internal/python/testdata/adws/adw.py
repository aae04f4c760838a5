"""Drive the ADWState double as the ADW phase scripts do.

  adw.py create ID KEY=JSON...   a new run: ADWState(ID), update, save
  adw.py phase ID KEY=JSON...    a phase: load (exit 3 if invalid), update, save
  adw.py show ID                 load and print the model's fields (exit 3 if invalid)
  adw.py check FILE              validate a file with ADWStateData (exit 3 if invalid)
  adw.py stdout ID               load, then to_stdout()
  adw.py stdin KEY=JSON...       from_stdin(), update, save, to_stdout()
  adw.py loop ID KEY N [MS]      load once, then N saves with KEY set to "0".."N-1",
                                 MS milliseconds apart
"""
import json
import sys
import time

from adw_modules.data_types import ADWStateData
from adw_modules.state import ADWState


def kwargs(args):
    out = {}
    for a in args:
        k, _, v = a.partition("=")
        out[k] = json.loads(v)
    return out


def load(adw_id):
    state = ADWState.load(adw_id)
    if state is None:
        sys.exit(3)
    return state


def main(argv):
    cmd = argv[0]
    if cmd == "create":
        state = ADWState(argv[1])
        state.update(**kwargs(argv[2:]))
        state.save("create")
    elif cmd == "phase":
        state = load(argv[1])
        state.update(**kwargs(argv[2:]))
        state.save("phase")
    elif cmd == "show":
        print(json.dumps(load(argv[1]).data))
    elif cmd == "check":
        with open(argv[1]) as f:
            data = json.load(f)
        try:
            ADWStateData(**data)
        except Exception as e:
            print(f"invalid: {e}", file=sys.stderr)
            sys.exit(3)
    elif cmd == "stdout":
        load(argv[1]).to_stdout()
    elif cmd == "stdin":
        state = ADWState.from_stdin()
        if state is None:
            sys.exit(3)
        state.update(**kwargs(argv[1:]))
        state.save("stdin")
        state.to_stdout()
    elif cmd == "loop":
        state = load(argv[1])
        pause = int(argv[4]) / 1000 if len(argv) > 4 else 0
        for i in range(int(argv[3])):
            state.update(**{argv[2]: str(i)})
            state.save("loop")
            time.sleep(pause)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
