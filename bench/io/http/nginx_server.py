#!/usr/bin/env python3
"""nginx (Debian's nginx-light) as an http_hello peer: one process, no master, `return 200`
"Hello, World!" on a free port of 127.0.0.1. Prints the port, then becomes nginx (exec: the
runner measures the CPU of this very pid). Config and logs in a temporary directory."""
import os
import shutil
import socket
import sys
import tempfile

nginx = shutil.which("nginx") or "/usr/sbin/nginx"
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
d = tempfile.mkdtemp(prefix="bench-nginx-")
conf = os.path.join(d, "nginx.conf")
with open(conf, "w") as f:
    f.write(f"""daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log crit;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d};
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type text/plain; return 200 "Hello, World!"; }}
  }}
}}
""")
print(port, flush=True)
os.execv(nginx, [nginx, "-p", d, "-c", conf])
