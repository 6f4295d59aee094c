from django import template

from ecard import services

register = template.Library()


@register.simple_tag
def calendar_warning():
    """Shown on the admin index and the dashboard from 60 days before the known calendar ends."""
    return services.calendar_warning()
