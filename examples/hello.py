"""The demo script: live lines, a structured record, and a file to download."""
import os
import platform
import sys
import time

import keg

print(f"hello from {platform.node()} (run {os.environ['KEG_PROCESS_ID'][:8]}, box {os.environ['KEG_BOX']})")
for step in range(1, 4):
    print(f"measuring... {step}/3")
    time.sleep(0.3)
reading = {"voltage": 3.3, "current_ma": 120, "ok": True}
keg.output(reading)
with open("result.csv", "w") as f:
    f.write("voltage,current_ma\n3.3,120\n")
print("wrote result.csv", file=sys.stderr)
