// 20_queue_workers.cpp — the worker-pool pattern from Python's asyncio.Queue documentation.
//
// A queue is filled with 20 random "jobs" (seconds to sleep); three workers take jobs until the
// queue is joined, then they are cancelled. The three workers finish in about a third of the
// total sleep time. (The random numbers are seeded so every run prints the same lines.)
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

asyncio::Task<> worker(std::string name, asyncio::Queue<double>& queue) {
  for (;;) {
    double sleep_for = co_await queue.get();  // wait for a job
    co_await asyncio::sleep(sleep_for);       // "do" it
    queue.task_done();                        // tell the queue this job is finished
    std::printf("%s has slept for %.2f seconds\n", name.c_str(), sleep_for);
  }
}

asyncio::Task<> main_async() {
  asyncio::Queue<double> queue;
  std::mt19937 rng(2024);
  std::uniform_real_distribution<double> uniform(0.05, 1.0);
  double total_sleep_time = 0;
  for (int i = 0; i < 20; ++i) {
    double sleep_for = uniform(rng);
    total_sleep_time += sleep_for;
    queue.put_nowait(sleep_for);
  }

  std::vector<asyncio::TaskHandle<>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(asyncio::create_task(worker("worker-" + std::to_string(i), queue)));

  auto& loop = asyncio::get_running_loop();
  double started_at = loop.time();
  co_await queue.join();  // until every job was task_done()
  double total_slept_for = loop.time() - started_at;

  for (auto& t : tasks) t.cancel();  // the workers loop forever: stop them
  co_await asyncio::gather(asyncio::return_exceptions, tasks);

  std::printf("====\n");
  std::printf("3 workers slept in parallel for %.2f seconds\n", total_slept_for);
  std::printf("total expected sleep time: %.2f seconds\n", total_sleep_time);
}

int main() { asyncio::run(main_async()); }
