from amqp.exceptions import AMQPError
from kombu.exceptions import OperationalError as BrokerError

# What a publish raises when RabbitMQ is down, refuses the message or does not confirm it.
PUBLISH_ERRORS = (BrokerError, AMQPError, ConnectionError, TimeoutError, OSError)
