#!/usr/bin/python3
# Kernel memory of idle loopback TCP connections: opens N connections to a
# listener of its own (2N sockets), then prints the change of /proc/meminfo Slab
# per connection, idle and after one small message each way, and sockstat.
# Usage: python3 bench/kernel-socket-memory.py N   (N <= 9,000 with 20,000 open files)
import socket, time, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
def meminfo():
    d={}
    for l in open('/proc/meminfo'):
        k,v=l.split(':'); d[k]=int(v.split()[0])
    return d
def sockstat():
    for l in open('/proc/net/sockstat'):
        if l.startswith('TCP:'): return l.strip()
N=int(sys.argv[1])
if not 1 <= N <= 9500: sys.exit("N must be 1..9500 (two descriptors per connection)")
srv=socket.socket(); srv.bind(('127.0.0.1',0)); srv.listen(4096)
port=srv.getsockname()[1]
time.sleep(0.5)
m0=meminfo(); s0=sockstat()
cl=[];sv=[]
for i in range(N):
    c=socket.create_connection(('127.0.0.1',port)); cl.append(c); sv.append(srv.accept()[0])
time.sleep(1)
m1=meminfo(); s1=sockstat()
# one small message each way, read: buffers back to empty
for a,b in zip(cl,sv):
    a.send(b'x'*100); b.recv(200); b.send(b'y'*100); a.recv(200)
time.sleep(1)
m2=meminfo(); s2=sockstat()
print(f"connections={N} sockets={2*N} slab_kb_delta={m1['Slab']-m0['Slab']} slab_bytes_per_conn={(m1['Slab']-m0['Slab'])*1024/N:.0f} after_traffic_slab_bytes_per_conn={(m2['Slab']-m0['Slab'])*1024/N:.0f}")
print("sockstat before:", s0); print("sockstat idle:  ", s1); print("sockstat after: ", s2)
