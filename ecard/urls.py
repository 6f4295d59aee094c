from django.contrib import admin
from django.urls import path

admin.site.site_header = "电子社保卡 服务网点 / e-card service outlet"
admin.site.site_title = "ecard"

urlpatterns = [
    path("admin/", admin.site.urls),
]
