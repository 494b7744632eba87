"""The load test's clients (`scripts/bench_load.py` runs it): closed-loop users, each sending its
next request as soon as the last is answered, to one endpoint named by LOAD_TARGET."""

import os

from locust import FastHttpUser, constant, task

KEY = os.environ["LOAD_API_KEY"]
TARGET = os.environ.get("LOAD_TARGET", "route")
PROMPT = "Summarise the plot of Hamlet in one sentence."


class Client(FastHttpUser):
    wait_time = constant(0)

    @task
    def call(self) -> None:
        headers = {"Authorization": f"Bearer {KEY}"}
        if TARGET == "route":
            self.client.post("/api/v1/route", json={"prompt": PROMPT}, headers=headers, name="/api/v1/route")
        else:
            body = {"model": "optiroute/auto", "max_tokens": 32, "messages": [{"role": "user", "content": PROMPT}]}
            self.client.post("/v1/chat/completions", json=body, headers=headers, name="/v1/chat/completions")
