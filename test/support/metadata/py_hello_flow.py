"""A Python Metaflow flow for the metadata service tests (`runs --from service`): run with the
peers' Metaflow package and METAFLOW_DEFAULT_METADATA=service, it registers the way every Python
Metaflow user's run does."""
from metaflow import FlowSpec, step


class PyHelloFlow(FlowSpec):
    @step
    def start(self):
        self.greeting = "hello from python"
        print(self.greeting)
        self.next(self.end)

    @step
    def end(self):
        print("done")


if __name__ == "__main__":
    PyHelloFlow()
