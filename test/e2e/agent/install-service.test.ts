/** `keg-agent install-service --print`: a systemd unit that runs `serve` with the given flags (docs/cli.md "keg-agent serve", docs/api.md). */
import { expect, test } from "bun:test";
import { agentCommand } from "../../helpers/agent.ts";
import { agentBin } from "../../helpers/bin.ts";

test("--print writes the unit with this binary and the serve flags, quoted where needed", async () => {
  const { stdout, code } = await agentCommand(["install-service", "--print", "--listen", "0.0.0.0:7350", "--name", "lab box", "--keepalive", "10"]);
  expect(code).toBe(0);
  expect(stdout).toContain(`ExecStart=${agentBin()} serve --listen 0.0.0.0:7350 --name "lab box" --keepalive 10\n`);
  expect(stdout).toContain("Restart=on-failure");
  // Detached runs must outlive a restart of the service.
  expect(stdout).toContain("KillMode=process");
  expect(stdout).toContain("WantedBy=multi-user.target");
});

test("a bad serve flag is refused before anything is written", async () => {
  const { stderr, code, stdout } = await agentCommand(["install-service", "--print", "--listen", "nope"]);
  expect(code).toBe(2);
  expect(stdout).toBe("");
  expect(stderr).toContain("--listen takes HOST:PORT");
});
