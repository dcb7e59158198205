# fail2ban action: iblock is the jail's firewall.
#
#   [DEFAULT]
#   banaction = iblock.py
#   banaction_allports = iblock.py
#
# Optional: iblock.py[socket="/var/lib/iblock/control.sock"] (state_dir/control.sock).
#
# Loaded inside fail2ban-server, this action never starts a process nor a
# shell: each ban and unban is queued and a thread sends them to the iblock
# daemon's control socket in batches (one JSON line each way), so thousands of
# bans at fail2ban's start cost a few requests, not thousands of processes.
# iblock parses every address itself and refuses what it would refuse from
# `iblock ban` (malformed, allowed, too wide, this host's). The jail's name is
# the ban's reason; an unban lifts only a ban this jail holds (not a trap ban
# of the same address). While the daemon is down the changes wait, in order,
# and go when it is back.

import json
import socket
import threading
import time

from fail2ban.server.action import ActionBase

SOCKET = "/var/lib/iblock/control.sock"
BATCH = 5000  # iblock's IMPORT_BATCH
MAX_QUEUED = 1000000  # beyond this, the oldest changes are dropped (logged)
ANSWER_TIMEOUT = 120
# iblock takes times up to ten years (nftables' timeouts); bantime.increment
# doubles a ban per offence without end unless bantime.maxtime says otherwise.
LONGEST = 10 * 365 * 24 * 3600
EX_DATAERR = 65  # iblock's answer to a malformed request; anything else is tried again


class IblockAction(ActionBase):
	def __init__(self, jail, name, socket=SOCKET, **kwargs):
		# kwargs: port, protocol, chain... that jail.conf passes every banaction; a set has no ports.
		super(IblockAction, self).__init__(jail, name)
		self.socket = socket
		self._queue = []
		self._cond = threading.Condition()
		self._stopping = False
		self._busy = False
		self._thread = None

	def start(self):
		self._stopping = False
		if self._thread is None or not self._thread.is_alive():
			self._thread = threading.Thread(target=self._run, name="iblock-%s" % self._jail.name, daemon=True)
			self._thread.start()

	def stop(self):
		# The unbans of fail2ban's stop are queued before this: wait for them (bounded).
		with self._cond:
			deadline = time.time() + 30
			while (self._queue or self._busy) and time.time() < deadline:
				self._cond.wait(0.2)
			self._stopping = True
			self._cond.notify_all()

	def ban(self, aInfo):
		bantime = int(aInfo["bantime"])
		change = {"op": "ban", "address": str(aInfo["ip"]), "reason": self._jail.name}
		if bantime < 0 or bantime > LONGEST:
			change["time"] = "permanent"
		else:
			# What is left of the ticket's ban (a restored ticket began earlier).
			left = int(float(aInfo["time"]) + bantime - time.time())
			change["time"] = "%ds" % max(1, left)
		self._put(change)
		return True

	def unban(self, aInfo):
		self._put({"op": "unban", "address": str(aInfo["ip"]), "reason": self._jail.name})
		return True

	def _put(self, change):
		with self._cond:
			if len(self._queue) >= MAX_QUEUED:
				self._logSys.error("iblock: %d changes wait for the daemon; dropping the oldest", len(self._queue))
				del self._queue[0]
			self._queue.append(change)
			self._cond.notify_all()

	def _run(self):
		delay = 0.5
		while True:
			with self._cond:
				while not self._queue and not self._stopping:
					self._cond.wait()
				if self._stopping and not self._queue:
					return
				batch = self._queue[:BATCH]
				self._busy = True
			try:
				answer = self._send({"cmd": "tool", "source": "fail2ban", "changes": batch})
				if not answer.get("ok") and answer.get("exitCode") != EX_DATAERR:
					raise IOError("iblock: %s" % answer.get("error"))
			except Exception as e:
				with self._cond:
					self._busy = False
					stopping = self._stopping
				self._logSys.warning("iblock: %s; %d change(s) wait, trying again in %.1f s", e, len(batch), delay)
				if stopping:
					return
				time.sleep(delay)
				delay = min(delay * 2, 30)
				continue
			delay = 0.5
			with self._cond:
				del self._queue[:len(batch)]
				self._busy = False
				self._cond.notify_all()
			if answer.get("ok"):
				r = answer.get("result", {})
				if r.get("refused") or r.get("failed"):
					self._logSys.warning("iblock: %s", json.dumps(r))
			else:
				# A request iblock finds malformed would be refused again: said, not retried.
				self._logSys.error("iblock refused %d change(s): %s", len(batch), answer.get("error"))

	def _send(self, request):
		s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		try:
			s.settimeout(ANSWER_TIMEOUT)
			s.connect(self.socket)
			s.sendall(json.dumps(request).encode() + b"\n")
			data = b""
			while True:
				chunk = s.recv(65536)
				if not chunk:
					break
				data += chunk
			return json.loads(data.decode())
		finally:
			s.close()


Action = IblockAction
