// Baseline: the same GETs through a plain libcurl-multi loop (curl_multi_perform + curl_multi_poll),
// C easy handles re-added as they finish, keep-alive pool of C connections. No coroutines.
#include <curl/curl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

static std::size_t sink(char*, std::size_t s, std::size_t n, void* ud) {
  *static_cast<std::size_t*>(ud) += s * n;
  return s * n;
}

int main(int argc, char** argv) {
  std::string url = argv[1];
  int total = std::atoi(argv[2]), conc = std::atoi(argv[3]);
  total = total / conc * conc;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)conc);
  std::size_t bytes = 0;
  int started = 0, finished = 0;
  std::vector<CURL*> easies;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < conc; ++i) {
    CURL* e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &bytes);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    easies.push_back(e);
    curl_multi_add_handle(m, e);
    ++started;
  }
  while (finished < total) {
    int running = 0;
    curl_multi_perform(m, &running);
    int left;
    while (CURLMsg* msg = curl_multi_info_read(m, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      ++finished;
      curl_multi_remove_handle(m, e);
      if (started < total) {
        curl_multi_add_handle(m, e);
        ++started;
      }
    }
    if (finished < total) curl_multi_poll(m, nullptr, 0, 1000, nullptr);
  }
  double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto* e : easies) curl_easy_cleanup(e);
  curl_multi_cleanup(m);
  if (bytes != std::size_t(total) * 27) return 1;
  std::printf("%.0f\n", total / dt);
}
