#!/usr/bin/python3
"""CPU time per training step and per inferred image of the PyTorch peer's networks, one
thread: on a machine other processes keep busy, a process's CPU time grows with its work while
its wall time also counts the waits for a core. Imports the model classes of the peer script
(first argument) so both measure the same networks; prints one JSON object per network with
the median over the repetitions of time.thread_time() per step / per image."""
import importlib.util, json, statistics, sys, time
import torch, torch.nn.functional as F

spec = importlib.util.spec_from_file_location("peer", sys.argv[1])
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)
torch.manual_seed(0)
torch.set_num_threads(1)


def median_cpu(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t = time.thread_time()
        fn()
        ts.append(time.thread_time() - t)
    return statistics.median(ts)


for name, cls in (("lenet5", peer.LeNet5), ("zoo", peer.Zoo)):
    m = cls()
    opt = torch.optim.RMSprop(m.parameters(), lr=1e-3, alpha=0.99, eps=1e-5)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def step():
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()

    train = median_cpu(step, 30)
    with torch.no_grad():
        x256 = torch.rand(256, 1, 28, 28)
        inf256 = median_cpu(lambda: m(x256), 10) / 256
    print(json.dumps({"arch": name, "threads": 1, "train_step_cpu_s": train, "infer_batch256_cpu_s_per_image": inf256}))
