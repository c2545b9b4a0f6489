"""The local agent: builds each run's command and files, and starts and watches child processes."""
